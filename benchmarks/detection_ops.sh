#!/usr/bin/env bash
# Detection ops against torchvision: NMS and batched NMS (1000, 10000, 20000 clustered boxes; one
# class or 80) by attncamp (benchmarks/nms_bench.cpp, or benchmarks/gpu/nms_bench.cpp with --gpu)
# and by torchvision (benchmarks/peers/nms_torchvision.py) on the same inputs and the same threads
# (OpenMP threads / torch.set_num_threads). Prints one table last: what, boxes, classes, time,
# peer time, ratio (peer time / attncamp time: above 1, attncamp is faster) and whether the two keep
# lists are identical (they must be; the script exits 1 when any differs).
# Usage: benchmarks/detection_ops.sh [--threads N] [--gpu] [--dir DIR]
# Environment: PYTHON (default /usr/bin/python3, Debian's with python3-torch/torchvision),
# BIN (default build/bin).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

threads=1
gpu=0
dir=${TMPDIR:-/tmp}/attncamp_detection_ops
python=${PYTHON:-/usr/bin/python3}
bin=${BIN:-build/bin}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --threads) threads=$2; shift 2 ;;
    --gpu) gpu=1; shift ;;
    --dir) dir=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "detection_ops.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [[ $gpu == 1 ]]; then
  ours=$bin/attncamp_gpu_nms_bench target=attncamp_gpu_nms_bench device=cuda
else
  ours=$bin/attncamp_nms_bench target=attncamp_nms_bench device=cpu
fi
if [[ ! -x "$ours" ]]; then
  echo "== building $ours"
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$(nproc)" --target "$target"
fi

rm -rf "$dir" && mkdir -p "$dir"
echo "== attncamp ($device, $threads thread(s)); inputs and keep lists in $dir"
if [[ $gpu == 1 ]]; then
  "$ours" --dir "$dir" | tee "$dir/ours.txt"
else
  "$ours" --dir "$dir" --threads "$threads" | tee "$dir/ours.txt"
fi
echo "== torchvision ($device, $threads thread(s))"
(cd benchmarks/peers && "$python" nms_torchvision.py --dir "$dir" --threads "$threads" --device "$device") |
  tee "$dir/peer.txt"

echo
printf '%-12s %7s %8s %10s %10s %7s %10s\n' what boxes classes "time ms" "peer ms" ratio identical
differ=0
while IFS=$'\t' read -r name ms kept; do
  [[ -z "$name" || -z "${kept:-}" ]] && continue
  peer=$(awk -F'\t' -v n="$name" '$1 == n { print $2 }' "$dir/peer.txt")
  if cmp -s "$dir/$name.keep_attncamp" "$dir/$name.keep_torchvision"; then same=yes; else same=NO; differ=1; fi
  op=${name%_*_*}
  rest=${name#"$op"_}
  awk -v op="$op" -v n="${rest%_*}" -v c="${rest#*_}" -v o="$ms" -v p="$peer" -v s="$same" \
    'BEGIN { printf "%-12s %7d %8d %10.3f %10.3f %6.2fx %10s\n", op, n, c, o, p, p / o, s }'
done <"$dir/ours.txt"
echo "($device, $threads thread(s); ratio = torchvision time / attncamp time; identical: the keep lists, byte for byte)"
exit $differ
