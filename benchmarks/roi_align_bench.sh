#!/usr/bin/env bash
# RoIAlign forward and backward, attncamp against torchvision on the same values and threads:
# attncamp_roi_align_bench (CPU, f32, channels-last) writes its times, inputs and outputs to a
# folder, then benchmarks/peers/roi_align_torchvision.py times torchvision (NCHW copies of the same
# values) with torch.set_num_threads, compares the outputs and prints the table.
# Usage: benchmarks/roi_align_bench.sh [--threads 2] [--iters 10] [--warmup 2] [--sizes box,mask,p5]
#          [--dir DIR]
# GPU: build attncamp_roi_align_gpu_bench, run it with --dir DIR [--dtype f32|f16|bf16], then
#   python3 benchmarks/peers/roi_align_torchvision.py --device cuda --dir DIR
# Environment: PYTHON (default /usr/bin/python3, Debian's python3-torch and python3-torchvision),
# BENCH (default build/bin/attncamp_roi_align_bench).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads=2
iters=10
warmup=2
sizes=box,mask,p5
dir=${TMPDIR:-/tmp}/attncamp_roi_align_bench
python=${PYTHON:-/usr/bin/python3}
bench=${BENCH:-build/bin/attncamp_roi_align_bench}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --iters) iters=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --sizes) sizes=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "roi_align_bench.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$bench" ]]; then
  echo "== building $bench"
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$(nproc)" --target attncamp_roi_align_bench
fi

mkdir -p "$dir"
echo "== attncamp, $threads thread(s)"
"$bench" --threads "$threads" --iters "$iters" --warmup "$warmup" --sizes "$sizes" --dir "$dir"
echo "== torchvision, $threads thread(s)"
"$python" benchmarks/peers/roi_align_torchvision.py --device cpu --threads "$threads" --iters "$iters" \
  --warmup "$warmup" --dir "$dir"
