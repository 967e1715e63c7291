#!/usr/bin/env bash
# Training throughput of the reference ViT (configs/vit_fashion_mnist.pbtxt): attncamp's
# `bench train` against the PyTorch peer (benchmarks/peers/vit_torch.py) at the same batch
# size and thread count, then one table: what, batch, threads, both rates and their ratio.
# Usage: benchmarks/train_throughput.sh [--threads N] [--steps N] [--warmup N] [--config F]
# Environment: PYTHON (default /usr/bin/python3, Debian's interpreter with python3-torch).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads=$(nproc)
steps=50
warmup=10
config=configs/vit_fashion_mnist.pbtxt
python=${PYTHON:-/usr/bin/python3}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "train_throughput.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

# The batch size both sides use: trainer.batch_size from the config.
batch=$(awk '/^[[:space:]]*trainer[[:space:]]*\{/ {t=1} t && /^[[:space:]]*batch_size:/ {print $2; exit}' "$config")
if [[ -z "$batch" ]]; then
  echo "train_throughput.sh: no trainer.batch_size in $config" >&2
  exit 1
fi

if [[ ! -x build/bin/attncamp ]]; then
  echo "== building build/bin/attncamp"
  if [[ ! -f build/CMakeCache.txt ]]; then
    cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  fi
  cmake --build build -j"$(nproc)" --target attncamp
fi

log=$(mktemp -t attncamp-throughput.XXXXXX)
trap 'rm -f "$log"' EXIT

rate() {  # last "<who> images/s: <float>" in the log -> <float>
  awk -v key="$1 images/s:" 'index($0, key) == 1 {v = $NF} END {if (v == "") exit 1; print v}' "$log"
}

echo "== attncamp bench train (batch $batch, threads $threads, steps $steps, warmup $warmup)"
build/bin/attncamp bench train --config "$config" --steps "$steps" --warmup "$warmup" \
  --threads "$threads" | tee "$log"
ours=$(rate attncamp) || { echo "train_throughput.sh: no 'attncamp images/s:' line" >&2; exit 1; }

core=$(awk '/^blas core:/ {gsub(",", "", $3); print $3}' "$log")

# The peer uses the same OpenBLAS (Debian's libblas.so.3 alternative) in the same environment, so
# both sides run the same GEMM kernel (printed as "blas core" above; OPENBLAS_CORETYPE selects it).
echo "== PyTorch peer ($("$python" -c 'import torch; print(torch.__version__)'), blas core $core)"
"$python" benchmarks/peers/vit_torch.py --batch "$batch" --threads "$threads" \
  --steps "$steps" --warmup "$warmup" | tee "$log"
peer=$(rate peer) || { echo "train_throughput.sh: no 'peer images/s:' line" >&2; exit 1; }

echo
awk -v what="train $(basename "$config" .pbtxt)" -v batch="$batch" -v threads="$threads" -v core="$core" \
  -v ours="$ours" -v peer="$peer" 'BEGIN {
    printf "%-28s %6s %8s %-10s %16s %15s %7s\n", "what", "batch", "threads", "blas", "attncamp img/s", "pytorch img/s", "ratio"
    printf "%-28s %6d %8d %-10s %16.1f %15.1f %7.2f\n", what, batch, threads, core, ours, peer, (peer > 0 ? ours / peer : 0)
  }'
