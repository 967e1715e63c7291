#!/usr/bin/env bash
# Input-pipeline throughput: attncamp's `bench loader` (data/loader.cpp bench_loader) against
# PyTorch's DataLoader + h5py + torchvision (benchmarks/peers/loader_torch.py) on the same
# synthetic ImageNet-like files (2000 JPEG 256x256, 2000 raw 224x224), batch and worker count.
# JPEG: RandomResizedCrop(224) + flip + normalise; raw: flip + normalise (both f32 out).
# Usage: benchmarks/loader_bench.sh [--threads "1 2"] [--batch 64] [--seconds 10] [--n 2000]
#          [--dir DIR] [--h100-rate 6154]
# Environment: PYTHON (default /usr/bin/python3, Debian's with python3-torch/torchvision/h5py),
# ATTNCAMP (default build/bin/attncamp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads_list="1 2"
batch=64
seconds=10
n=2000
dir=${TMPDIR:-/tmp}/attncamp_loader_bench
h100_rate=6154  # images/s one H100 consumes training ViT-S/16 in bf16 (benchmarks/RESULTS.md, 2026-11-24)
python=${PYTHON:-/usr/bin/python3}
attncamp=${ATTNCAMP:-build/bin/attncamp}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads_list=$2; shift 2 ;;
    --batch) batch=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --n) n=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --h100-rate) h100_rate=$2; shift 2 ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) echo "loader_bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$attncamp" ]]; then
  echo "== building $attncamp"
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$(nproc)" --target attncamp
fi

mkdir -p "$dir"
if [[ ! -f "$dir/bench_jpeg.h5" || ! -f "$dir/bench_raw.h5" ]]; then
  echo "== writing $n synthetic images to $dir/bench_{jpeg,raw}.h5"
  "$python" benchmarks/peers/loader_torch.py make --out "$dir" --n "$n"
fi

rate() { sed -n 's/.* \([0-9.]*\) img\/s$/\1/p' | tail -1; }

rows=()
for enc in jpeg raw; do
  for t in $threads_list; do
    file="$dir/bench_$enc.h5"
    echo "== $enc, $t worker thread(s), batch $batch, ${seconds}s each"
    ours=$("$attncamp" bench loader --data "$file" --threads "$t" --batch "$batch" --seconds "$seconds" | tee /dev/stderr | rate)
    peer=$("$python" benchmarks/peers/loader_torch.py run --data "$file" --threads "$t" --batch "$batch" \
      --seconds "$seconds" | tee /dev/stderr | rate)
    rows+=("$enc $t $ours $peer")
  done
done

echo
printf '%-34s %7s %12s %12s %7s %14s\n' what threads "ours img/s" "peer img/s" ratio "vs H100 need"
for r in "${rows[@]}"; do
  read -r enc t ours peer <<<"$r"
  if [[ $enc == jpeg ]]; then what="jpeg 256 -> rrc224+flip+norm"; else what="raw 224 -> flip+norm"; fi
  awk -v w="$what" -v t="$t" -v o="$ours" -v p="$peer" -v h="$h100_rate" \
    'BEGIN { printf "%-34s %7d %12.1f %12.1f %6.2fx %13.2fx\n", w, t, o, p, o / p, o / h }'
done
echo "(vs H100 need: ours / $h100_rate img/s, what one H100 consumes training ViT-S/16; goal ours/peer >= 2x)"
