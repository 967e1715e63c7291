#!/usr/bin/env bash
# Fault handling of multi-process training, run by ctest (tests/CMakeLists.txt) with 2 ranks:
#   kill   - one rank killed with SIGKILL mid-training: the job exits non-zero within 60 s and
#            the output names the lost rank;
#   term   - SIGTERM to every rank (what Slurm sends before preemption): each rank finishes its
#            step, rank 0 writes a checkpoint, the job exits 0, and --resume auto continues from
#            it to the end;
#   usr1   - SIGUSR1 to one rank only: all ranks still stop together after the same step.
# Usage: mpi_faults.sh MODE ATTNCAMP_BINARY MPIRUN [MPIRUN ARGS...]
set -uo pipefail
mode=$1 bin=$2
shift 2
mpirun=("$@")
work=$(mktemp -d /tmp/attncamp_faults.XXXXXX)
trap 'kill -9 $(jobs -p) 2>/dev/null; rm -rf "$work"' EXIT

cat >"$work/exp.pbtxt" <<CFG
name: "faults"
model { vit { image_size: 16 in_channels: 3 patch_size: 4 dim: 32 depth: 1 heads: 2 mlp_dim: 64
              num_classes: 10 pool: CLS_TOKEN } }
data { classification { synthetic_samples: 100000 mean: 0.5 std: 0.25 } }
optimizer { kind: SGD lr: 0.05 momentum: 0.9 schedule: CONSTANT }
trainer { epochs: 1 batch_size: 16 seed: 1 threads: 1 output_dir: "$work/out" log_every_rank: true
          collective_timeout_s: 20 }
CFG

fail() { echo "FAIL ($mode): $*"; echo "--- output:"; cat "$work/log"; exit 1; }

# PID of the attncamp process that is rank $1 (Open MPI puts the rank into its environment).
rank_pid() {
  for p in $(pgrep -f "attncamp train --config $work/exp.pbtxt"); do
    if tr '\0' '\n' <"/proc/$p/environ" 2>/dev/null | grep -qx "OMPI_COMM_WORLD_RANK=$1"; then echo "$p"; return; fi
  done
}

# Waits until rank $1's log shows step $2 (at most 60 s).
wait_for_step() {
  for _ in $(seq 600); do
    if grep -q "^step $2 " "$work/out/rank$1.log" 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  fail "rank $1 never reached step $2"
}

start() {
  "${mpirun[@]}" -np 2 "$bin" train --config "$work/exp.pbtxt" "$@" >"$work/log" 2>&1 &
  job=$!
}

# Waits for the job for at most $1 seconds; sets rc.
finish_within() {
  for _ in $(seq $(($1 * 10))); do
    if ! kill -0 "$job" 2>/dev/null; then
      wait "$job"
      rc=$?
      return 0
    fi
    sleep 0.1
  done
  fail "job still running after $1 s"
}

case "$mode" in
  kill)
    start
    wait_for_step 1 5
    kill -9 "$(rank_pid 1)"
    finish_within 60
    [[ $rc -ne 0 ]] || fail "job exited 0 after a rank was killed"
    grep -Eq "rank 1|process rank 1" "$work/log" || fail "the output does not name the lost rank 1"
    ;;
  term | usr1)
    start
    wait_for_step 0 5
    if [[ $mode == term ]]; then
      kill -TERM "$(rank_pid 0)" "$(rank_pid 1)"
    else
      kill -USR1 "$(rank_pid 1)"
    fi
    finish_within 60
    [[ $rc -eq 0 ]] || fail "job exited $rc after a stop signal"
    grep -q "stop signal received: checkpoint" "$work/log" || fail "no checkpoint message"
    step=$(sed -n 's/.*written at step \([0-9]*\).*/\1/p' "$work/log" | head -1)
    last0=$(tail -1 "$work/out/rank0.log" | awk '{print $2}')
    last1=$(tail -1 "$work/out/rank1.log" | awk '{print $2}')
    [[ "$last0" == "$step" && "$last1" == "$step" ]] || fail "ranks stopped at steps $last0/$last1, checkpoint at $step"
    # The checkpoint loads: resume runs on from the next step (stopped again after 3 more).
    "${mpirun[@]}" -np 2 "$bin" train --config "$work/exp.pbtxt" --resume auto \
      --set trainer.max_steps=$((step + 3)) >"$work/log" 2>&1 || fail "resume failed"
    grep -q "resumed from $work/out/checkpoint.h5 at step $step" "$work/log" || fail "did not resume at step $step"
    ;;
  *) echo "unknown mode $mode"; exit 2 ;;
esac
echo "PASS ($mode)"
