#!/usr/bin/env bash
# Weak and strong scaling of the reference ViT training (configs/vit_fashion_mnist.pbtxt) on 1, 2
# and 4 ranks of this machine (MPI backend), with `attncamp bench train` under mpirun:
#   weak:   per-rank batch fixed (128), the global batch grows with the ranks;
#   strong: global batch fixed (128), per-rank batch 128/N.
# Each rank gets cores/N threads (at least 1), so every run uses the whole machine and the ideal
# rate is the 1-rank rate. Prints images/s (all ranks), efficiency = rate_N / rate_1, and the
# share of step time spent waiting for the gradient all-reduce (the DDP overhead).
# Usage: benchmarks/scaling.sh [--ranks "1 2 4"] [--steps N] [--warmup N] [--config F]
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ranks="1 2 4"
steps=40
warmup=5
config=configs/vit_fashion_mnist.pbtxt
while [[ $# -gt 0 ]]; do
  case "$1" in
    --ranks) ranks=$2; shift 2 ;;
    --steps) steps=$2; shift 2 ;;
    --warmup) warmup=$2; shift 2 ;;
    --config) config=$2; shift 2 ;;
    -h|--help) sed -n '2,10p' "$0"; exit 0 ;;
    *) echo "scaling.sh: unknown argument '$1' (try --help)" >&2; exit 2 ;;
  esac
done
bin=${ATTNCAMP_BIN:-build/bin/attncamp}
[[ -x $bin ]] || { echo "scaling.sh: $bin not built (run scripts/test.sh or cmake --build build)" >&2; exit 1; }
cores=$(nproc)
# Root and oversubscription are for this container; on a cluster use plain mpirun.
mpirun=(mpirun --allow-run-as-root --oversubscribe --bind-to none --mca btl self,vader)

run() {  # ranks per-rank-batch -> "images/s wait%"
  local n=$1 b=$2 t=$((cores / $1))
  ((t >= 1)) || t=1
  local out
  out=$("${mpirun[@]}" -np "$n" "$bin" bench train --config "$config" --steps "$steps" --warmup "$warmup" \
    --set trainer.batch_size="$b" --threads "$t" 2>&1) || { echo "$out" >&2; exit 1; }
  local rate wait
  rate=$(sed -n 's/^attncamp images\/s: //p' <<<"$out")
  wait=$(sed -n 's/^all-reduce wait: \([0-9.]*\)%.*/\1/p' <<<"$out")
  echo "$rate ${wait:-0}"
}

printf "%-7s %6s %10s %10s %12s %11s %12s\n" "mode" "ranks" "batch/rank" "global" "images/s" "efficiency" "allreduce%"
for mode in weak strong; do
  base=""
  for n in $ranks; do
    if [[ $mode == weak ]]; then b=128; else b=$((128 / n)); fi
    read -r rate wait < <(run "$n" "$b")
    [[ -n $base ]] || base=$rate
    # Every run uses all the machine's cores (ranks x threads = cores), so the ideal is the
    # 1-rank rate: efficiency = rate_N / rate_1.
    eff=$(awk -v r="$rate" -v b="$base" 'BEGIN{printf "%.1f%%", 100*r/b}')
    printf "%-7s %6d %10d %10d %12.1f %11s %11s%%\n" "$mode" "$n" "$b" $((b * n)) "$rate" "$eff" "$wait"
  done
done
echo "# $(nproc) cores, all used by every run; efficiency = images/s at N ranks / images/s at 1 rank."
echo "# With more ranks than cores the ranks share cores: that efficiency measures oversubscription."
