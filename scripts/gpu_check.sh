#!/usr/bin/env bash
# The one command a GPU session runs on the device machine (docs/gpu.md): every test with the GPU
# visible, the GPU benchmarks and their PyTorch peers, then compute-sanitizer memcheck and
# racecheck on the CUDA attention, LayerNorm, NMS, RoIAlign, box and detection-loss tests. Everything goes to $OUT/gpu_check.log, a short table to
# $OUT/gpu_check_summary.txt and to the end of stdout. Finishes within --budget seconds.
#
#   scripts/gpu_check.sh [--bundle PATH | --build] [--steps LIST] [--budget SEC] [--targets T] [--keep]
#
#   --bundle PATH  run a bundle made by scripts/bundle.sh (a folder, or a folder holding
#                  attncamp-bundle.tar.xz); the default when bundle/ exists
#   --build        configure and build here (CMake, Ninja, nvcc), the libraries and tools from
#                  .debs/ (scripts/fetch_debs.sh) unpacked into a prefix; the default otherwise
#   --steps LIST   of tests,attention,bench,sanitizer, run in the order given (default all four in
#                  that order; "none" for none): attention is the attention benchmarks, their
#                  SDPA peer and the tile-shape sweep; bench the other benchmarks and peers
#   --budget SEC   wall-clock seconds for everything (default 520; the device tool allows 600)
#   --targets T    with --build, build only these space-separated targets
#   --keep         keep the temporary folder (unpacked bundle or build) and say where it is
# The extra CMake arguments in $GPU_CHECK_CMAKE_ARGS go to the --build configure step.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
repo=$(pwd -P)

mode='' bundle_path='' steps=tests,attention,bench,sanitizer budget=520 targets='' keep=0
while (($#)); do
  case $1 in
    --bundle) mode=bundle bundle_path=${2:?--bundle needs a path} && shift ;;
    --build) mode=build ;;
    --steps) steps=${2:?--steps needs a list} && shift ;;
    --budget) budget=${2:?--budget needs seconds} && shift ;;
    --targets) targets=${2:?--targets needs a list} && shift ;;
    --keep) keep=1 ;;
    *) sed -n '7,21s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2 && exit 2 ;;
  esac
  shift
done
for step in ${steps//,/ }; do
  [[ $step == @(tests|attention|bench|sanitizer|none) ]] || { echo "gpu_check.sh: unknown step '$step' in --steps" >&2 && exit 2; }
done
if [[ -z $mode ]]; then
  if [[ -d bundle ]]; then mode=bundle bundle_path=bundle; else mode=build; fi
fi

out=${OUT:-/tmp/gpu_check_out}
mkdir -p "$out"
log=$out/gpu_check.log
summary=$out/gpu_check_summary.txt
test_logs=$out/test_logs.txt
bench_out=$out/benchmarks.txt
: >"$log"
: >"$bench_out"
work=$(mktemp -d /tmp/gpu_check.XXXXXX)
deadline=$((SECONDS + budget))
results=()
failures=0

note() { echo "[gpu_check] $*" | tee -a "$log"; }
# run_step NAME CAP_SECONDS CMD...: runs CMD with its output in the log, within CAP and the budget.
run_step() {
  local name=$1 cap=$2 left t0 rc status
  shift 2
  left=$((deadline - SECONDS - 15))
  if ((left < 10)); then
    results+=("$(printf '%-44s %-8s %5s  %s' "$name" SKIPPED - 'out of time')")
    note "$name: skipped, out of time"
    return 0
  fi
  ((cap > left)) && cap=$left
  printf '\n===== %s (limit %ss): %s\n' "$name" "$cap" "$*" >>"$log"
  t0=$SECONDS
  timeout -k 5 "$cap" "$@" >>"$log" 2>&1
  rc=$?
  if ((rc == 0)); then
    status=ok
  elif ((rc == 124 || rc == 137)); then
    status=TIMEOUT
  else
    status="FAIL($rc)"
  fi
  [[ $status == ok ]] || failures=$((failures + 1))
  results+=("$(printf '%-44s %-8s %4ss  %s' "$name" "$status" $((SECONDS - t0)) "${step_note:-}")")
  note "$name: $status ($((SECONDS - t0)) s)"
  step_note=''
  return "$rc"
}
missing() {
  results+=("$(printf '%-44s %-8s %5s  %s' "$1" missing - "$2")")
  note "$1: missing ($2)"
}
not_here() {  # a GPU step on a machine without a GPU
  results+=("$(printf '%-44s %-8s %5s  %s' "$1" n/a - 'no GPU here')")
  note "$1: n/a (no GPU here)"
}

# --- what machine, what code -------------------------------------------------------------------
{
  echo "gpu_check $(date -u '+%Y-%m-%d %H:%M:%S UTC') on $(hostname), mode $mode, budget ${budget}s"
  echo "kernel: $(uname -srm); cpus: $(nproc); $(free -g 2>/dev/null | awk '/^Mem:/ {print "memory: " $2 " GiB"}')"
  if [[ -d .git ]] && command -v git >/dev/null; then
    echo "checkout: $(git rev-parse HEAD 2>/dev/null) $(git status --porcelain 2>/dev/null | grep -q . && echo '(with changes)')"
  else
    echo "checkout: ${ATTNCAMP_COMMIT:-no .git here; pass ATTNCAMP_COMMIT=<hash> to record it}"
  fi
  nvidia-smi 2>&1 || echo "nvidia-smi: not available"
  nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.sm,clocks.mem --format=csv 2>&1 || true
  command -v nvcc >/dev/null && nvcc --version | tail -2
  command -v cmake >/dev/null && cmake --version | head -1
  python3 -c 'import torch; print("torch", torch.__version__, "cuda", torch.version.cuda, "gpu", torch.cuda.is_available())' 2>&1 | tail -1
} >>"$log" 2>&1
gpu_name=$(nvidia-smi --query-gpu=name,driver_version --format=csv,noheader 2>/dev/null | head -1)
has_gpu=0
[[ -n $gpu_name ]] && has_gpu=1
note "GPU: ${gpu_name:-none}"

# --- get the binaries: unpack a bundle, or build from .debs -----------------------------------------
tests_dir='' bin_dir='' runner=''
if [[ $mode == bundle ]]; then
  bundle=$bundle_path
  if [[ -f $bundle_path/attncamp-bundle.tar.xz || $bundle_path == *.tar.* ]]; then
    tarball=$bundle_path
    [[ -d $bundle_path ]] && tarball=$bundle_path/attncamp-bundle.tar.xz
    bundle=$work/bundle
    mkdir -p "$bundle"
    note "unpacking $tarball ($(du -m "$tarball" | cut -f1) MiB)"
    if command -v xz >/dev/null; then
      run_step "unpack bundle" 120 tar -C "$bundle" -xf "$tarball" || true
    else  # no xz program: Python's lzma
      run_step "unpack bundle (python)" 120 python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
        "$tarball" "$bundle" || true
    fi
  fi
  if [[ ! -x $bundle/run_tests.sh ]]; then
    note "no bundle at $bundle_path (make one with scripts/bundle.sh BUILD bundle --tar, carry bundle)"
    exit 1
  fi
  bundle=$(cd "$bundle" && pwd -P)
  cat "$bundle/share/attncamp/BUILD_INFO" >>"$log"
  # Stopgap while tests read paths compiled in at build time: where those paths do not exist
  # here, point them at this checkout and at the bundle's attncamp.
  build_info() { sed -n "s/^$1: //p" "$bundle/share/attncamp/BUILD_INFO"; }
  built_src=$(build_info source_dir) built_bin=$(build_info build_dir)/bin/attncamp
  if [[ -n $built_src && ! -e $built_src ]] && mkdir -p "$(dirname "$built_src")" 2>/dev/null; then
    ln -s "$repo" "$built_src" && note "linked $built_src -> $repo (compiled-in source path)"
  fi
  if [[ ! -e $built_bin ]] && mkdir -p "$(dirname "$built_bin")" 2>/dev/null; then
    ln -s "$bundle/bin/attncamp" "$built_bin" && note "linked $built_bin -> the bundle's attncamp"
  fi
  source "$bundle/env.sh" 2>>"$log"
  step_note='every non-CUDA, non-glibc library from the bundle'
  run_step "check_libs" 60 "$bundle/check_libs.sh" --require-cuda || true
  tests_dir=$bundle/tests bin_dir=$bundle/bin runner=bundle
else
  # Build here. The .deb files (scripts/fetch_debs.sh) unpack into a prefix whose absolute
  # symlinks are re-pointed into it; CMake is told where each dependency lies there.
  build_dir=$work/build
  cmake_args=()
  if compgen -G ".debs/*.deb" >/dev/null; then
    prefix=$work/deps
    multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
    L=$prefix/usr/lib/$multiarch
    note "unpacking $(ls .debs/*.deb | wc -l) packages from .debs into $prefix"
    for deb in .debs/*.deb; do
      if command -v dpkg >/dev/null; then
        dpkg -x "$deb" "$prefix"
      else
        ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -x -C "$prefix" -J 2>/dev/null ||
          ar p "$deb" "$(ar t "$deb" | grep '^data\.tar')" | tar -x -C "$prefix" --zstd
      fi
    done >>"$log" 2>&1
    while IFS= read -r l; do
      t=$(readlink "$l")
      [[ $t == /* ]] && ln -sfn "$prefix$t" "$l"
    done < <(find "$prefix" -type l)
    export PATH="$prefix/usr/bin:$PATH"
    # Debian 12 keeps some libraries (zlib) in /lib, the rest in /usr/lib.
    libdirs=$L:$prefix/lib/$multiarch:$L/openblas-openmp:$L/hdf5/serial:$L/openmpi/lib
    export LD_LIBRARY_PATH="$libdirs${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
    export OPAL_PREFIX=$prefix/usr OMPI_MCA_ess_singleton_isolated=1 OMPI_MCA_btl_base_warn_component_unused=0
    export PKG_CONFIG_LIBDIR=$L/pkgconfig:$L/openblas-openmp/pkgconfig:$prefix/usr/share/pkgconfig
    export PKG_CONFIG_SYSROOT_DIR=$prefix
    cmake_args=(-DCMAKE_PREFIX_PATH="$prefix/usr" -DCMAKE_LIBRARY_ARCHITECTURE="$multiarch"
      -DPKG_CONFIG_EXECUTABLE="$prefix/usr/bin/pkgconf" -DHDF5_ROOT="$L/hdf5/serial"
      -DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON -DProtobuf_PROTOC_EXECUTABLE="$prefix/usr/bin/protoc"
      -DMPI_C_COMPILER="$prefix/usr/bin/mpicc.openmpi" -DMPIEXEC_EXECUTABLE="$prefix/usr/bin/orterun"
      -DCMAKE_EXE_LINKER_FLAGS="-Wl,-rpath-link,$libdirs")
  fi
  read -ra extra_args <<<"${GPU_CHECK_CMAKE_ARGS:-}"
  run_step "configure" 120 cmake -S "$repo" -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DATTNCAMP_CUDA=ON "${cmake_args[@]}" "${extra_args[@]}" || { cat "$summary" 2>/dev/null; exit 1; }
  grep -E '^-- attncamp: ' "$log" | tail -3
  read -ra target_args <<<"${targets:+--target $targets}"
  run_step "build ($(nproc) jobs)" 420 cmake --build "$build_dir" -j "$(nproc)" "${target_args[@]}" || {
    grep -E 'error|FAILED' "$log" | head -20
    exit 1
  }
  tests_dir=$build_dir/tests bin_dir=$build_dir/bin runner=ctest
fi

# --- tests ---------------------------------------------------------------------------------------------
step_tests() {
  jobs=4
  tlogs=$work/test_logs
  if [[ $runner == bundle ]]; then
    run_step "tests (run_tests.sh -j $jobs)" 240 "$bundle/run_tests.sh" -j "$jobs" --timeout 200 --log-dir "$tlogs"
  else
    mkdir -p "$tlogs"
    # -E: with --targets, the tests of targets not built are placeholders named *_NOT_BUILT.
    run_step "tests (ctest -j $jobs)" 240 bash -c 'ctest --test-dir "$1" -j "$2" -E _NOT_BUILT --timeout 200 -V >"$0" 2>&1
      rc=$?; grep -A30 "tests passed" "$0"; exit $rc' "$tlogs/ctest.log" "$build_dir" "$jobs"
  fi
  results[-1]+=$(grep -hE '^run_tests.sh: binaries|tests passed, .* failed out of' "$log" | tail -1 |
    sed 's/^run_tests.sh: //')
  # The failing binaries (run_tests.sh) or tests (ctest), for the summary.
  failing=$(grep -hE '^(FAIL|TIMEOUT) +test_|^[[:space:]]+[0-9]+ - .*\((Failed|Timeout|Not Run|SEGFAULT|Subprocess aborted)\)' "$log" |
    head -40)
  # Tests that skipped for want of a GPU on a machine that has one did not test what they should.
  no_gpu=$(cat "$tlogs"/*.log 2>/dev/null | grep -cE 'no CUDA device|has no CUDA support')
  if ((has_gpu && no_gpu > 0)); then
    results+=("$(printf '%-44s %-8s %5s  %s' 'GPU tests ran on the GPU' FAIL - "$no_gpu skip messages about a missing GPU/CUDA")")
    failures=$((failures + 1))
  elif ((!has_gpu)); then
    results+=("$(printf '%-44s %-8s %5s  %s' 'GPU tests ran on the GPU' n/a - 'no GPU here: CUDA tests skipped')")
  fi
  for f in "$tlogs"/*.log; do
    [[ -f $f ]] && printf '\n===== %s\n' "$(basename "$f")" && cat "$f"
  done 2>/dev/null | head -c 15000000 >"$test_logs"
}

# --- benchmarks: ours, then the PyTorch peers -------------------------------------------------------------
bench() {  # [cap=SEC] bench NAME CMD...: its output also goes to benchmarks.txt, its last lines to the summary
  local name=$1
  shift
  ((has_gpu)) || { not_here "$name" && return 0; }
  printf '\n===== %s\n' "$name" >>"$bench_out"
  run_step "$name" "${cap:-75}" bash -c 'set -o pipefail; "$@" 2>&1 | tee -a "$0"' "$bench_out" "$@" || true
}
peer() {  # peer SCRIPT: a PyTorch peer from benchmarks/peers
  if [[ -f benchmarks/peers/$1 ]]; then
    bench "peer $1" env PYTHONUNBUFFERED=1 python3 "benchmarks/peers/$1"
  else
    missing "peer $1" "benchmarks/peers/$1 does not exist (yet)"
  fi
}
# The attention kernels against SDPA, and the tile-shape sweep the launchers' shapes come from.
step_attention() {
  # First without the autotuned rows: the autotuner runs every tile-shape variant, and one that
  # faults on this device would take the whole table with it.
  if [[ -x $bin_dir/attncamp_attention_bench ]]; then
    bench "attncamp_attention_bench --no-tuned" "$bin_dir/attncamp_attention_bench" --no-tuned
    bench "attncamp_attention_bench" "$bin_dir/attncamp_attention_bench"
  else
    missing attncamp_attention_bench "not built (yet)"
  fi
  peer attention_torch.py
  if [[ -x $bin_dir/attncamp_attention_tune ]]; then
    # Every variant at three lengths and two head dims: over 75 s on an H200 (2026-12-04).
    cap=180 bench "attncamp_attention_tune" "$bin_dir/attncamp_attention_tune"
  else
    missing "attncamp_attention_tune" "not built (yet)"
  fi
}
# Everything else: GEMM, LayerNorm and cross-entropy, the ViT-S/16 step and the all-reduce sweep.
step_bench() {
  for b in attncamp_gpu_bench attncamp_norm_loss_bench; do
    if [[ -x $bin_dir/$b ]]; then bench "$b" "$bin_dir/$b"; else missing "$b" "not built (yet)"; fi
  done
  # The GEMMs again with cuBLASLt's candidates timed per shape (ops/cuda/lt_autotune.h).
  if [[ -x $bin_dir/attncamp_gpu_bench ]]; then
    bench "attncamp_gpu_bench autotune" env ATTNCAMP_GEMM_AUTOTUNE=1 "$bin_dir/attncamp_gpu_bench"
  fi
  peer gemm_torch.py
  peer norm_loss_torch.py
  # RoIAlign: fwd, atomic and deterministic bwd write their times and values, then torchvision on
  # the same values prints the table (benchmarks/gpu/roi_align_bench.cpp).
  if [[ -x $bin_dir/attncamp_roi_align_gpu_bench ]]; then
    mkdir -p "$work/roi_align"
    bench attncamp_roi_align_gpu_bench "$bin_dir/attncamp_roi_align_gpu_bench" --dir "$work/roi_align"
    bench "peer roi_align_torchvision.py" env PYTHONUNBUFFERED=1 python3 benchmarks/peers/roi_align_torchvision.py \
      --device cuda --iters 50 --warmup 10 --dir "$work/roi_align"
  else
    missing attncamp_roi_align_gpu_bench "not built (yet)"
  fi
  # NMS and batched NMS against torchvision on the GPU (benchmarks/detection_ops.sh --gpu: the
  # same inputs, keep lists compared).
  if [[ -x $bin_dir/attncamp_gpu_nms_bench ]]; then
    bench "detection_ops.sh --gpu (nms)" env PYTHON=python3 BIN="$bin_dir" bash benchmarks/detection_ops.sh --gpu \
      --dir "$work/nms"
  else
    missing attncamp_gpu_nms_bench "not built (yet)"
  fi
  # ViT-S/16 training step (attncamp bf16 vs PyTorch eager with bf16 autocast), and the
  # all-reduce sweep of the NCCL backend on one rank.
  if [[ -x $bin_dir/attncamp ]]; then
    bench "vit_s16 train step" env ATTNCAMP_BIN="$bin_dir/attncamp" bash benchmarks/gpu/train_step.sh --steps 30 --warmup 5
    bench "allreduce nccl 1 rank" "$bin_dir/attncamp" bench allreduce --device cuda --backend nccl --max-bytes 268435456 --iters 10
  else
    missing "vit_s16 train step" "no attncamp binary"
  fi
}

# --- compute-sanitizer ---------------------------------------------------------------------------------
step_sanitizer() {
  sanitizer=$(command -v compute-sanitizer || ls /usr/local/cuda/bin/compute-sanitizer 2>/dev/null || true)
  for t in test_ops_cuda_attention test_ops_cuda_norm_loss test_ops_cuda_nms test_ops_cuda_roi_align \
    test_ops_cuda_boxes test_ops_cuda_detection_loss; do
    for tool in memcheck racecheck; do
      if [[ -z $sanitizer ]]; then
        missing "$tool $t" 'compute-sanitizer not found'
      elif [[ ! -x $tests_dir/$t ]]; then
        missing "$tool $t" "no $t in this build"
      elif ((!has_gpu)); then
        not_here "$tool $t"
      elif [[ $tool == racecheck && $t == test_ops_cuda_attention ]]; then
        # racecheck runs the f32 simple kernels' tests for over two minutes: five filters in
        # parallel, each with its own log, keep the step near that.
        run_step "$tool $t (5 filters in parallel)" 300 bash -c '
          cd "$2" || exit 1
          rc=0 pids=()
          for f in "CudaAttention.MmaBf16*:CudaAttention.MmaF16*" "CudaAttention.MmaDeterministic*" \
            "CudaAttention.Simple*" "CudaAttention.EveryMmaVariant*" \
            "-CudaAttention.Mma*:CudaAttention.Simple*:CudaAttention.EveryMmaVariant*"; do
            "$0" --tool racecheck --error-exitcode 86 --print-limit 20 "$1" --gtest_brief=1 --gtest_filter="$f" \
              >"$2/racecheck.${#pids[@]}.log" 2>&1 &
            pids+=($!)
          done
          for i in "${!pids[@]}"; do
            wait "${pids[$i]}" || rc=$?
            echo "== racecheck filter $i"; cat "$2/racecheck.$i.log"
          done
          exit $rc' "$sanitizer" "$tests_dir/$t" "$work" || true
      else
        cap=90
        [[ $t == test_ops_cuda_attention ]] && cap=150  # every tile-shape variant's parity test too
        run_step "$tool $t" "$cap" env -C "$work" "$sanitizer" --tool "$tool" --error-exitcode 86 \
          --print-limit 20 "$tests_dir/$t" --gtest_brief=1 || true
      fi
    done
  done
}

for step in ${steps//,/ }; do
  [[ $step == none ]] || "step_$step"
done

# --- summary ---------------------------------------------------------------------------------------------
{
  echo "gpu_check summary: $(date -u '+%Y-%m-%d %H:%M:%S UTC'), GPU ${gpu_name:-none}, mode $mode, $((SECONDS))s"
  grep -E '^(checkout|commit): ' "$log" | head -2
  printf '%-44s %-8s %5s  %s\n' step result time note
  printf '%s\n' "${results[@]}"
  if [[ -n ${failing:-} ]]; then
    echo
    echo "failing tests (details in test_logs.txt):"
    echo "$failing"
  fi
  if [[ -s $bench_out ]]; then
    echo
    echo "benchmark tables (last lines of each; all in benchmarks.txt):"
    awk '/^===== / { if (name) flush(); name = $0; n = 0; next } { buf[n++ % 14] = $0; cnt = n }
      function flush(  i, s) { print name; s = cnt > 14 ? cnt - 14 : 0; for (i = s; i < cnt; i++) print buf[i % 14] }
      END { if (name) flush() }' "$bench_out"
  fi
  if grep -qE '^fwdbwd[a-z-]*\.S1024\.D64 ' "$bench_out" 2>/dev/null; then
    echo
    echo "issue 3's attention goal, fwd+bwd at S=1024, D=64 (ratio at least 0.60; each bench run's rows):"
    grep -E '^fwdbwd[a-z-]*\.S1024\.D64 ' "$bench_out"
    grep -E '^ +[0-9]+x1024x[0-9]+x64: max \|tuned - default\|' "$bench_out" || true
    echo "autotuner's choices there (the variants to make defaults if only the tuned rows reach 0.60):"
    grep -E '^ +(forward|backward) bf16 D64 .*Sq<=1024 Sk<=1024' "$bench_out" | sed 's/ of .*//' || true
    disagree=$(grep -o 'disagrees' "$bench_out" | wc -l)
    ((disagree == 0)) || echo "$disagree variant(s) disagreed with the default kernels' outputs and were not chosen (benchmarks.txt)"
  fi
  echo
  echo "files: gpu_check.log (everything), test_logs.txt (each test binary), benchmarks.txt"
  echo "result: $([[ $failures == 0 ]] && echo OK || echo "$failures step(s) failed")"
} >"$summary"
cat "$summary" | tee -a "$log"
if ((keep)); then note "kept $work"; else rm -rf "$work"; fi
((failures == 0))
