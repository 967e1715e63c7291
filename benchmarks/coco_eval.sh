#!/usr/bin/env bash
# COCO bbox evaluation speed: `attncamp eval-coco` against pycocotools' COCOeval and
# faster-coco-eval's COCOeval_faster (benchmarks/peers/coco_eval_py.py, in the venv that
# scripts/python_venv.sh makes or reuses) on one synthetic set (benchmarks/peers/coco_eval_data.py:
# 5,000 images, ~7 ground-truth boxes and 100 detections each, 80 categories). Times each end to
# end (process start, JSON loading, evaluate, accumulate, summarize) and evaluation alone (what
# each reports for evaluate + accumulate + summarize, without loading), attncamp at each thread
# count; checks that the three give the same twelve numbers (attncamp and pycocotools to the last
# bit). Prints a table last.
# Usage: benchmarks/coco_eval.sh [--images 5000] [--dets 100] [--threads "1 2"] [--repeat 3]
#          [--dir DIR] [--venv DIR]
# Environment: ATTNCAMP (default build/bin/attncamp).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

images=5000
dets=100
threads_list="1 2"
repeat=3
dir=${TMPDIR:-/tmp}/attncamp_coco_eval_bench
venv=build-ci-venv
attncamp=${ATTNCAMP:-build/bin/attncamp}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --images) images=$2; shift 2 ;;
    --dets) dets=$2; shift 2 ;;
    --threads) threads_list=$2; shift 2 ;;
    --repeat) repeat=$2; shift 2 ;;
    --dir) dir=$2; shift 2 ;;
    --venv) venv=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "coco_eval.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done

if [[ ! -x "$attncamp" ]]; then
  echo "== building $attncamp"
  [[ -f build/CMakeCache.txt ]] || cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
  cmake --build build -j"$(nproc)" --target attncamp
fi
python=$(scripts/python_venv.sh "$venv")

data="$dir/${images}x${dets}"
if [[ ! -f "$data/gt.json" || ! -f "$data/dets.json" ]]; then
  echo "== writing the synthetic set to $data"
  "$python" benchmarks/peers/coco_eval_data.py --out "$data" --images "$images" --dets "$dets"
fi
gt="$data/gt.json"
res="$data/dets.json"
size="${images} img x ${dets} det"

now() { date +%s.%N; }
field() { sed -n "s/^$1 //p" | tail -1; }  # the rest of the last line starting with "$1 "
min() { tr ' ' '\n' | sort -g | head -1; }

# attncamp: best of $repeat runs per thread count, end to end and evaluation alone.
declare -A ours_total ours_eval
for t in $threads_list; do
  totals=() evals=()
  for ((i = 0; i < repeat; i++)); do
    start=$(now)
    "$attncamp" eval-coco --gt "$gt" --dets "$res" --threads "$t" --raw-stats --timings >"$dir/ours.txt" 2>"$dir/ours.err"
    totals+=("$(echo "$(now) - $start" | bc -l)")
    evals+=("$(sed -n 's/.*evaluate (evaluate + accumulate + summarize) \([0-9.]*\) s/\1/p' "$dir/ours.err")")
  done
  ours_total[$t]=$(echo "${totals[*]}" | min)
  ours_eval[$t]=$(echo "${evals[*]}" | min)
  echo "== attncamp eval-coco, $t thread(s): best of $repeat ${ours_total[$t]} s end to end, ${ours_eval[$t]} s evaluation"
done
cat "$dir/ours.txt"
ours_stats=$(field stats <"$dir/ours.txt")

# The peers: one run each (pycocotools takes about a minute), timed the same way.
declare -A peer_total peer_eval peer_stats
for impl in pycocotools faster; do
  echo "== $impl"
  start=$(now)
  "$python" benchmarks/peers/coco_eval_py.py "$impl" "$gt" "$res" >"$dir/$impl.txt"
  peer_total[$impl]=$(echo "$(now) - $start" | bc -l)
  grep -E "^ Average|^time" "$dir/$impl.txt" | grep -v "^ Average" || true
  peer_eval[$impl]=$(field "time evaluate" <"$dir/$impl.txt")
  peer_eval[$impl]=$(echo "${peer_eval[$impl]} + $(field "time accumulate" <"$dir/$impl.txt") + $(field "time summarize" <"$dir/$impl.txt")" | bc -l)
  peer_stats[$impl]=$(field stats <"$dir/$impl.txt")
done

# The twelve numbers: attncamp and pycocotools to the last bit, faster-coco-eval within 1e-12.
status=0
if [[ "$ours_stats" != "${peer_stats[pycocotools]}" ]]; then
  echo "MISMATCH: attncamp's twelve numbers differ from pycocotools'" >&2
  echo "  attncamp:    $ours_stats" >&2
  echo "  pycocotools: ${peer_stats[pycocotools]}" >&2
  status=1
fi
faster_diff=$(paste <(echo "${peer_stats[faster]}" | tr ' ' '\n') <(echo "${peer_stats[pycocotools]}" | tr ' ' '\n') |
  awk '{d = $1 - $2; if (d < 0) d = -d; if (d > m) m = d} END {printf "%.3g", m + 0}')
agree="attncamp = pycocotools bit for bit; faster-coco-eval max |diff| $faster_diff"
[[ $status -eq 0 ]] || agree="attncamp DIFFERS from pycocotools; faster-coco-eval max |diff| $faster_diff"
echo "twelve numbers: $agree"
echo "  $ours_stats"

echo
echo "COCO bbox evaluation, $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg), $(date -u +%Y-%m-%d)," \
  "commit $(git rev-parse --short HEAD); speedup = the peer's time / attncamp's"
printf "%-32s %-20s %10s %14s %14s %12s %12s\n" "what" "size" "attncamp s" "pycocotools s" "faster-coco s" \
  "vs pycoco" "vs faster"
for t in $threads_list; do
  for kind in total eval; do
    if [[ $kind == total ]]; then
      what="end to end, $t thread(s)"; ours=${ours_total[$t]}; pc=${peer_total[pycocotools]}; fc=${peer_total[faster]}
    else
      what="evaluation only, $t thread(s)"; ours=${ours_eval[$t]}; pc=${peer_eval[pycocotools]}; fc=${peer_eval[faster]}
    fi
    printf "%-32s %-20s %10.3f %14.3f %14.3f %11.1fx %11.1fx\n" "$what" "$size" "$ours" "$pc" "$fc" \
      "$(echo "$pc / $ours" | bc -l)" "$(echo "$fc / $ours" | bc -l)"
  done
done
exit $status
