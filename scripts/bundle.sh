#!/usr/bin/env bash
# Packs a build into a relocatable bundle: bin/attncamp, every tests/test_* and the benchmarks,
# each with DT_RPATH $ORIGIN/../lib, plus every shared library they load except glibc and the
# CUDA/driver libraries (those come from the machine it runs on), Open MPI's plugins, a MANIFEST
# and the scripts env.sh, run_tests.sh and check_libs.sh. docs/gpu.md says how it is used.
#
#   scripts/bundle.sh BUILD_DIR OUT_DIR [--tar] [--only NAME,...] [--extra FILE]... [--no-strip]
#
#   --tar        leave OUT_DIR/attncamp-bundle.tar.xz and OUT_DIR/MANIFEST instead of the tree
#   --only       bundle only these executables (e.g. attncamp,test_runtime_tensor)
#   --extra      also bundle this executable into bin/ (repeatable)
#   --no-strip   keep symbol tables
# Needs patchelf (apt-get install patchelf), ldd, readelf and strip.
set -euo pipefail

die() {
  echo "bundle.sh: $*" >&2
  exit 1
}
usage() {
  sed -n '7,13p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2
  exit 2
}

# --- arguments ----------------------------------------------------------------------------------
build_dir='' out_dir='' make_tar=0 strip_bins=1 only='' extras=()
while (($#)); do
  case $1 in
    --tar) make_tar=1 ;;
    --no-strip) strip_bins=0 ;;
    --only)
      only=${2:?--only needs a list}
      shift
      ;;
    --extra)
      extras+=("${2:?--extra needs a file}")
      shift
      ;;
    -h | --help) usage ;;
    -*) die "unknown option $1" ;;
    *) if [[ -z $build_dir ]]; then build_dir=$1; elif [[ -z $out_dir ]]; then out_dir=$1; else usage; fi ;;
  esac
  shift
done
[[ -n $build_dir && -n $out_dir ]] || usage
[[ -d $build_dir ]] || die "build folder $build_dir does not exist"
for tool in patchelf ldd readelf strip; do
  command -v "$tool" >/dev/null || die "$tool is missing (Debian: apt-get install patchelf binutils)"
done
build_dir=$(cd "$build_dir" && pwd -P)
only=${only:+,$only,}

# --- library kinds, shared with the bundle's check_libs.sh ----------------------------------------
# glibc: never bundled; cuda: CUDA toolkit and driver, provided by every GPU machine; compat: the
# compiler's C++ runtime, bundled in lib/compat and used only where the machine's is older.
lib_kinds=$(
  cat <<'EOF'
attncamp_lib_kind() {
  case $1 in
    linux-vdso.so.* | linux-gate.so.* | ld-linux*.so.* | libc.so.* | libm.so.* | libmvec.so.* | \
      libpthread.so.* | libdl.so.* | librt.so.* | libresolv.so.* | libutil.so.* | libanl.so.* | \
      libnsl.so.1 | libBrokenLocale.so.* | libthread_db.so.*) echo glibc ;;
    libcuda.so* | libcudart.so* | libcublas.so* | libcublasLt.so* | libnccl.so* | libnvidia-* | \
      libnvrtc* | libnvJitLink* | libcupti* | libcudnn* | libcufft* | libcurand* | libcusolver* | \
      libcusparse* | libnvToolsExt* | libnvtx*) echo cuda ;;
    libstdc++.so.* | libgcc_s.so.*) echo compat ;;
    *) echo bundle ;;
  esac
}
# Prints "soname<TAB>path" for each library `ldd FILE` lists ("not-found" for unresolved ones).
attncamp_ldd() {
  ldd "$1" 2>/dev/null | awk '
    /=> not found/ { print $1 "\tnot-found"; next }
    /=>/ && $3 ~ /^\// { print $1 "\t" $3; next }
    $1 ~ /^\// { n = $1; sub(/.*\//, "", n); print n "\t" $1 }'
}
EOF
)
eval "$lib_kinds"

is_elf() { [[ -f $1 && ! -L $1 && $(head -c 4 "$1" | od -An -c | tr -d ' ') == '177ELF' ]]; }
wanted() { [[ -z $only || $only == *",$(basename "$1"),"* ]]; }

# --- the executables ------------------------------------------------------------------------------
declare -a exes=() exe_dests=()
add_exe() {
  if is_elf "$1" && wanted "$1"; then
    exes+=("$1")
    exe_dests+=("$2")
  fi
}
add_exe "$build_dir/bin/attncamp" bin
for f in "$build_dir"/tests/test_*; do add_exe "$f" tests; done
for f in "$build_dir"/bin/attncamp_*{bench,tune} "$build_dir"/benchmarks/attncamp_*bench; do add_exe "$f" bin; done
for f in "${extras[@]}"; do
  is_elf "$f" || die "--extra $f is not an executable"
  exes+=("$(readlink -f "$f")")
  exe_dests+=(bin)
done
((${#exes[@]})) || die "no executables found in $build_dir (bin/attncamp, tests/test_*)"

# OUT_DIR is replaced, so it must be empty, absent, or an earlier bundle.
if [[ -e $out_dir && ! -f $out_dir/MANIFEST ]] && [[ -n $(ls -A "$out_dir" 2>/dev/null) ]]; then
  die "$out_dir exists and is not a bundle (no MANIFEST); not replacing it"
fi
stage=$out_dir
if ((make_tar)); then stage=$(mktemp -d "${TMPDIR:-/tmp}/attncamp-bundle.XXXXXX"); fi
rm -rf "$out_dir"
mkdir -p "$out_dir" "$stage"/{bin,tests,lib/compat,share/attncamp}
stage=$(cd "$stage" && pwd -P)

# --- libraries ------------------------------------------------------------------------------------
declare -A copied=() cuda_libs=() glibc_libs=()
manifest_libs=()
package_of() {  # Debian package and version owning a file, or "?" (dpkg absent or file unowned)
  local f=$1 real p pkg=''
  real=$(readlink -f "$f")
  if command -v dpkg >/dev/null; then
    for p in "$real" "$f" "${real/#\/usr\/lib/\/lib}" "${f/#\/lib/\/usr\/lib}"; do
      pkg=$(dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1,2 | sed 's/: .*//') && [[ -n $pkg ]] && break
    done
  fi
  [[ -n $pkg ]] && pkg="$pkg $(dpkg-query -W -f='${Version}' "$pkg" 2>/dev/null)"
  echo "${pkg:-?}"
}

# Copies the shared library $2 (soname $1) into lib/ (or lib/compat) with DT_RPATH $ORIGIN.
copy_lib() {
  local name=$1 src=$2 dest
  [[ -n ${copied[$name]:-} ]] && return 0
  dest=lib/$name
  [[ $(attncamp_lib_kind "$name") == compat ]] && dest=lib/compat/$name
  cp "$(readlink -f "$src")" "$stage/$dest"
  chmod 755 "$stage/$dest"
  patchelf --force-rpath --set-rpath '$ORIGIN' "$stage/$dest"
  copied[$name]=$src
  manifest_libs+=("$dest <- $(readlink -f "$src") [$(package_of "$src")]")
}

# Bundles what ELF file $1 loads; ldd lists the whole closure, so one pass per file suffices.
bundle_deps_of() {
  local file=$1 name path kind
  while IFS=$'\t' read -r name path; do
    kind=$(attncamp_lib_kind "$name")
    case $kind in
      glibc) glibc_libs[$name]=1 ;;
      cuda) cuda_libs[$name]=$path ;;
      *)
        [[ $path == not-found ]] && die "$file needs $name, which ldd does not find on this machine"
        copy_lib "$name" "$path"
        ;;
    esac
  done < <(attncamp_ldd "$file")
}

exe_rpath='$ORIGIN/../lib'
for i in "${!exes[@]}"; do
  src=${exes[$i]}
  dest=$stage/${exe_dests[$i]}/$(basename "$src")
  bundle_deps_of "$src"
  cp "$src" "$dest"
  chmod 755 "$dest"
  ((strip_bins)) && strip --strip-unneeded "$dest"
  patchelf --force-rpath --set-rpath "$exe_rpath" "$dest"
done

# --- Open MPI: plugins (dlopened at MPI_Init), help texts, mpirun/orted; OPAL_PREFIX=lib/openmpi --
# Plugins for network fabrics (libfabric, UCX, verbs, PSM) are left out, as Debian's own
# openmpi-mca-params.conf disables them; shared memory and TCP remain.
mpi_note='not linked'
if [[ -n ${copied[libmpi.so.40]:-} ]] || compgen -G "$stage/lib/libmpi.so.*" >/dev/null; then
  command -v ompi_info >/dev/null || die "the binaries link Open MPI but ompi_info is missing"
  mpi_path() { env -u OPAL_PREFIX ompi_info --path "$1" --parsable | cut -d: -f3-; }
  prefix=$(mpi_path prefix)
  pkglibdir=$(mpi_path pkglibdir)
  pkgdatadir=$(mpi_path pkgdatadir)
  bindir=$(mpi_path bindir)
  mpi_root=$stage/lib/openmpi
  plugin_dir=$mpi_root/${pkglibdir#"$prefix"/}
  mkdir -p "$plugin_dir" "$mpi_root/${pkgdatadir#"$prefix"/}" "$mpi_root/bin"
  rel=$(realpath --relative-to="$plugin_dir" "$stage/lib")
  kept=0 skipped=()
  for plugin in "$pkglibdir"/mca_*.so; do
    if attncamp_ldd "$plugin" | grep -Eq '^lib(fabric|uc[pstm]|ibverbs|rdmacm|psm|infinipath|efa)'; then
      skipped+=("$(basename "$plugin" .so)")
      continue
    fi
    bundle_deps_of "$plugin"
    cp "$plugin" "$plugin_dir/"
    patchelf --force-rpath --set-rpath "\$ORIGIN:\$ORIGIN/$rel" "$plugin_dir/$(basename "$plugin")"
    kept=$((kept + 1))
  done
  cp -r "$pkgdatadir"/. "$mpi_root/${pkgdatadir#"$prefix"/}/"
  for tool in orterun orted; do
    if [[ -x $bindir/$tool ]]; then
      bundle_deps_of "$bindir/$tool"
      cp "$bindir/$tool" "$mpi_root/bin/$tool"
      patchelf --force-rpath --set-rpath '$ORIGIN/../..' "$mpi_root/bin/$tool"
    fi
  done
  [[ -x $mpi_root/bin/orterun ]] && ln -s orterun "$mpi_root/bin/mpirun"
  # PMIx (Open MPI's process-management library) has plugins and help texts of its own.
  pmix_lib=${copied[libpmix.so.2]:-}
  pmix_prefix=$([[ -n $pmix_lib ]] && dirname "$(dirname "$(readlink -f "$pmix_lib")")")
  if [[ -d $pmix_prefix/lib/pmix ]]; then
    mkdir -p "$stage/lib/pmix/lib/pmix" "$stage/lib/pmix/share"
    for plugin in "$pmix_prefix"/lib/pmix/*.so; do
      bundle_deps_of "$plugin"
      cp "$plugin" "$stage/lib/pmix/lib/pmix/"
      patchelf --force-rpath --set-rpath '$ORIGIN:$ORIGIN/../../..' "$stage/lib/pmix/lib/pmix/$(basename "$plugin")"
    done
    [[ -d $pmix_prefix/share/pmix ]] && cp -r "$pmix_prefix/share/pmix" "$stage/lib/pmix/share/"
  fi
  mpi_note="$kept plugins from $pkglibdir [$(package_of "$pkglibdir/mca_pml_ob1.so")] in lib/openmpi/${pkglibdir#"$prefix"/}; left out: ${skipped[*]:-none}"
fi

# --- what the target machine must provide ----------------------------------------------------------
# Versions named in the "Version needs" sections (not the definitions) of the bundled ELF files.
needs=$(find "$stage/bin" "$stage/tests" "$stage/lib" -maxdepth 1 -type f -print0 |
  xargs -0 -r readelf -V --wide 2>/dev/null | awk '
    /Version needs section/ { s = 1; next }
    /Version (definition|symbols) section/ { s = 0 }
    s && match($0, /Name: (GLIBC|GLIBCXX|CXXABI|GCC)_[0-9.]+/) { print substr($0, RSTART + 6, RLENGTH - 6) }' |
  sort -u -V)
printf '%s\n' "$needs" | grep -E '^(GLIBCXX|CXXABI)_' >"$stage/share/attncamp/libstdcxx_needs" || true
printf '%s\n' "$needs" | grep -E '^GCC_' >"$stage/share/attncamp/libgcc_needs" || true
glibc_max=$(printf '%s\n' "$needs" | grep -E '^GLIBC_[0-9]' | sort -V | tail -1 | sed 's/GLIBC_//')
echo "${glibc_max:-0}" >"$stage/share/attncamp/glibc_needs"

# --- sources that tests read at run time, and build information ---------------------------------------
source_dir=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$build_dir/CMakeCache.txt" 2>/dev/null || true)
if [[ -d $source_dir ]]; then
  mkdir -p "$stage/share/attncamp/source/launch"
  cp -r "$source_dir/configs" "$stage/share/attncamp/source/"
  cp -r "$source_dir/launch/proto" "$stage/share/attncamp/source/launch/"
fi
commit='unknown'
if [[ -d $source_dir ]] && command -v git >/dev/null && git -C "$source_dir" rev-parse HEAD >/dev/null 2>&1; then
  commit=$(git -C "$source_dir" rev-parse HEAD)
  [[ -z $(git -C "$source_dir" status --porcelain --untracked-files=no 2>/dev/null) ]] || commit+=' (plus uncommitted changes)'
fi
cache() { sed -n "s/^$1:[A-Z]*=//p" "$build_dir/CMakeCache.txt" 2>/dev/null | head -1; }
nvcc_version=$(cat "$build_dir"/CMakeFiles/*/CMakeCUDACompiler.cmake 2>/dev/null | sed -n 's/^set(CMAKE_CUDA_COMPILER_VERSION "\(.*\)")/\1/p' | head -1 || true)
# One "key: value" a line; scripts/gpu_check.sh reads build_dir and source_dir.
{
  echo "commit: $commit"
  echo "bundled: $(date -u '+%Y-%m-%d %H:%M:%S UTC')"
  echo "bundled_on: $(. /etc/os-release 2>/dev/null && echo "$PRETTY_NAME") ($(uname -m))"
  echo "build_dir: $build_dir"
  echo "source_dir: $source_dir"
  echo "build_type: $(cache CMAKE_BUILD_TYPE)"
  echo "cxx: $(cache CMAKE_CXX_COMPILER)"
  echo "cuda: ${nvcc_version:-none}, architectures $(cache CMAKE_CUDA_ARCHITECTURES)"
} >"$stage/share/attncamp/BUILD_INFO"
# Build paths that tests have compiled in (ATTNCAMP_SOURCE_DIR, ATTNCAMP_BINARY): where tests still
# read these rather than the env.sh overrides, the paths must exist where the bundle runs.
baked=$(for p in "$source_dir" "$build_dir/bin/attncamp"; do
  [[ -n $p ]] && grep -qaF "$p" "$stage"/tests/* 2>/dev/null && echo "$p"
done || true)

# --- MANIFEST ------------------------------------------------------------------------------------
{
  echo "# attncamp bundle: what is in it and where each library came from"
  cat "$stage/share/attncamp/BUILD_INFO"
  echo
  echo "## executables"
  (cd "$stage" && ls -1 bin/* tests/* 2>/dev/null)
  echo
  echo "## bundled libraries (path in bundle <- file copied [Debian package version])"
  printf '%s\n' "${manifest_libs[@]}" | sort
  echo
  echo "## Open MPI: $mpi_note"
  echo
  echo "## from the machine it runs on (not bundled)"
  for n in $(printf '%s\n' "${!cuda_libs[@]}" | sort); do echo "$n (CUDA; here: ${cuda_libs[$n]})"; done
  echo "glibc >= ${glibc_max:-?}: $(printf '%s\n' "${!glibc_libs[@]}" | sort | tr '\n' ' ')"
  echo "libstdc++/libgcc_s: the machine's own where it has $(tail -1 "$stage/share/attncamp/libstdcxx_needs"), else lib/compat"
  echo
  echo "## build paths found in the executables (strings; tests use them unless env.sh overrides them)"
  printf '%s\n' "${baked:-none}"
} >"$stage/MANIFEST"

# --- the bundle's scripts ----------------------------------------------------------------------------
cat >"$stage/env.sh" <<'EOF'
# shellcheck shell=bash
# Sourced by the bundle's scripts (and by you, before running bin/attncamp under MPI): sets the
# overrides of build paths the tests read, Open MPI's relocation (OPAL_PREFIX), the bundled
# libstdc++ where the machine's is older, and adds CUDA library folders ldd does not find.
ATTNCAMP_BUNDLE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
export ATTNCAMP_BUNDLE
export ATTNCAMP_TEST_BINARY="$ATTNCAMP_BUNDLE/bin/attncamp"
export ATTNCAMP_TEST_SOURCE_DIR="$ATTNCAMP_BUNDLE/share/attncamp/source"
if [[ -d $ATTNCAMP_BUNDLE/lib/openmpi ]]; then
  export OPAL_PREFIX="$ATTNCAMP_BUNDLE/lib/openmpi"
  export PATH="$OPAL_PREFIX/bin:$PATH"
  if [[ -d $ATTNCAMP_BUNDLE/lib/pmix ]]; then
    export PMIX_PKGLIBDIR="$ATTNCAMP_BUNDLE/lib/pmix/lib/pmix" PMIX_PKGDATADIR="$ATTNCAMP_BUNDLE/lib/pmix/share/pmix"
  fi
  # A singleton (no mpirun) would otherwise fork an orted through ssh/rsh; Debian's defaults.
  export OMPI_MCA_ess_singleton_isolated=${OMPI_MCA_ess_singleton_isolated:-1}
  export OMPI_MCA_btl_base_warn_component_unused=${OMPI_MCA_btl_base_warn_component_unused:-0}
  # Without ssh or rsh, mpirun refuses even one-node runs, which need neither.
  attncamp_has_program() { local p; p=$(command -v "$1") && [[ -x $p ]]; }
  if ! attncamp_has_program ssh && ! attncamp_has_program rsh; then
    export OMPI_MCA_plm_rsh_agent=${OMPI_MCA_plm_rsh_agent:-false}
  fi
fi

attncamp_bundle_libraries() {
  local pair sys v f lib d compat=0
  # libstdc++/libgcc_s: the machine's own unless it lacks a symbol version the bundle needs.
  for pair in libstdc++.so.6:libstdcxx_needs libgcc_s.so.1:libgcc_needs; do
    sys=''
    for d in /lib/x86_64-linux-gnu /usr/lib/x86_64-linux-gnu /lib64 /usr/lib64 /usr/lib /lib; do
      [[ -e $d/${pair%%:*} ]] && sys=$d/${pair%%:*} && break
    done
    [[ -n $sys ]] || compat=1
    while read -r v; do
      [[ -z $v || -z $sys ]] || grep -qazFx "$v" "$sys" || compat=1
    done <"$ATTNCAMP_BUNDLE/share/attncamp/${pair#*:}"
  done
  if ((compat)); then
    export LD_LIBRARY_PATH="$ATTNCAMP_BUNDLE/lib/compat${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  fi
  export ATTNCAMP_BUNDLE_COMPAT=$compat
  # CUDA libraries ldd cannot find: look where CUDA images keep them.
  for f in "$ATTNCAMP_BUNDLE"/bin/attncamp "$ATTNCAMP_BUNDLE"/tests/*; do
    [[ -f $f ]] || continue
    for lib in $(ldd "$f" 2>/dev/null | awk '/=> not found/ {print $1}'); do
      for d in /usr/local/cuda/lib64 /usr/local/cuda/lib /usr/local/cuda/targets/x86_64-linux/lib \
        /usr/local/nvidia/lib64 /usr/lib/x86_64-linux-gnu /opt/*/.venv/lib/python3*/site-packages/nvidia/*/lib \
        /usr/local/lib/python3*/dist-packages/nvidia/*/lib; do
        if [[ -e $d/$lib ]]; then
          export LD_LIBRARY_PATH="${LD_LIBRARY_PATH:+$LD_LIBRARY_PATH:}$d"
          echo "env.sh: $lib from $d" >&2
          break
        fi
      done
    done
    break
  done
}
# Once per environment: a script started from one that sourced this inherits the result.
[[ -n ${ATTNCAMP_BUNDLE_COMPAT:-} ]] || attncamp_bundle_libraries
EOF

{
  echo '#!/usr/bin/env bash'
  cat <<'EOF'
# Checks with ldd that every executable, library and Open MPI plugin of this bundle loads each
# library from inside the bundle, except glibc, the CUDA/driver libraries (listed with where
# they resolve) and libstdc++/libgcc_s. Exit 1 listing each library found elsewhere or nowhere;
# with --require-cuda, unresolved CUDA libraries count as failures too.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
source "$here/env.sh"
require_cuda=0
[[ ${1:-} == --require-cuda ]] && require_cuda=1
EOF
  echo "$lib_kinds"
  cat <<'EOF'
bad=0 files=0
declare -A cuda=()
while IFS= read -r -d '' f; do
  [[ $(head -c 4 "$f" | od -An -c | tr -d ' ') == '177ELF' ]] || continue
  files=$((files + 1))
  while IFS=$'\t' read -r name path; do
    case $(attncamp_lib_kind "$name") in
      glibc) ;;
      cuda)
        cuda[$name]=$path
        if [[ $path == not-found ]] && ((require_cuda)); then
          echo "check_libs: ${f#"$here"/}: $name not found"
          bad=$((bad + 1))
        fi
        ;;
      compat)
        if [[ $path == not-found ]]; then
          echo "check_libs: ${f#"$here"/}: $name not found"
          bad=$((bad + 1))
        fi
        ;;
      *)
        if [[ $path != "$here"/* ]]; then
          echo "check_libs: ${f#"$here"/}: $name => $path (outside the bundle)"
          bad=$((bad + 1))
        fi
        ;;
    esac
  done < <(attncamp_ldd "$f")
done < <(find "$here/bin" "$here/tests" "$here/lib" -type f -print0)
for name in $(printf '%s\n' "${!cuda[@]}" | sort); do echo "check_libs: CUDA $name => ${cuda[$name]}"; done
echo "check_libs: libstdc++ from $([[ $ATTNCAMP_BUNDLE_COMPAT == 1 ]] && echo 'the bundle (lib/compat)' || echo 'this machine')"
need=$(cat "$here/share/attncamp/glibc_needs")
have=$(ldd --version 2>/dev/null | head -1 | grep -Eo '[0-9]+\.[0-9]+$')
if [[ -n $have && $(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1) != "$need" ]]; then
  echo "check_libs: this machine's glibc $have is older than the $need the bundle needs"
  bad=$((bad + 1))
fi
if ((bad)); then
  echo "check_libs: FAILED: $bad problem(s) in $files ELF files"
  exit 1
fi
echo "check_libs: OK: $files ELF files load every non-CUDA, non-glibc library from the bundle"
EOF
} >"$stage/check_libs.sh"

{
  echo '#!/usr/bin/env bash'
  cat <<'EOF'
# Runs every test executable of this bundle (tests/test_*) and prints, per binary, how many tests
# passed, failed and were skipped; exits 1 if any binary failed, crashed or timed out.
#   run_tests.sh [-j N] [-R REGEX] [-E REGEX] [--timeout SEC] [--log-dir DIR] [-- GTEST_ARGS...]
# -R/-E keep/drop binaries whose name matches; each binary runs in a fresh temporary folder and
# its whole output goes to DIR/<binary>.log.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)
source "$here/env.sh"
jobs=1 include='' exclude='' timeout_s=900 log_dir='' gtest_args=()
while (($#)); do
  case $1 in
    -j) jobs=$2 && shift ;;
    -j*) jobs=${1#-j} ;;
    -R) include=$2 && shift ;;
    -E) exclude=$2 && shift ;;
    --timeout) timeout_s=$2 && shift ;;
    --log-dir) log_dir=$2 && shift ;;
    --) shift && gtest_args=("$@") && break ;;
    *) sed -n '2,6s/^# \{0,1\}//p' "${BASH_SOURCE[0]}" >&2 && exit 2 ;;
  esac
  shift
done
# OpenMP threads spin while waiting: several binaries at once must share the cores, not oversubscribe.
if ((jobs > 1)) && [[ -z ${OMP_NUM_THREADS:-} ]]; then
  OMP_NUM_THREADS=$(($(nproc) / jobs))
  export OMP_NUM_THREADS=$((OMP_NUM_THREADS > 0 ? OMP_NUM_THREADS : 1))
fi
log_dir=${log_dir:-$(mktemp -d "${TMPDIR:-/tmp}/attncamp-tests.XXXXXX")}
mkdir -p "$log_dir"
log_dir=$(cd "$log_dir" && pwd -P)
tests=()
for t in "$here"/tests/test_*; do
  name=$(basename "$t")
  [[ -n $include && ! $name =~ $include ]] && continue
  [[ -n $exclude && $name =~ $exclude ]] && continue
  tests+=("$t")
done
((${#tests[@]})) || { echo "run_tests.sh: no test executable matches" >&2; exit 2; }

# gtest --gtest_brief=1 prints "[  PASSED  ] N tests." and "[  SKIPPED ] N tests." at the end,
# and one "[  FAILED  ] Suite.Name (N ms)" line per failed test.
count() { sed -n "s/^\[  $1 *\] \([0-9][0-9]*\) tests*[,.].*/\1/p" "$2" | tail -1; }
count_failed() { grep -cE '^\[  FAILED  \] [^ ]+ \([0-9]+ ms\)' "$1"; }
skip_reasons() {  # distinct reasons given by GTEST_SKIP(), with how many tests gave each
  awk 'r { n[$0]++; r = 0 } /: Skipped$/ { r = 1 }
       END { for (m in n) printf "    skipped (%d): %s\n", n[m], m }' "$1" | sort | head -5
}
run_one() {
  local t=$1 name log work start rc status passed failed skipped secs report
  name=$(basename "$t")
  log=$log_dir/$name.log
  work=$(mktemp -d "${TMPDIR:-/tmp}/attncamp-run.XXXXXX")
  start=$(date +%s%N)
  # --foreground: stay in the caller's process group, so that a timeout around run_tests.sh ends the tests too.
  (cd "$work" && exec timeout --foreground -k 10 "$timeout_s" "$t" --gtest_brief=1 "${gtest_args[@]}") >"$log" 2>&1
  rc=$?
  secs=$(awk -v a="$start" -v b="$(date +%s%N)" 'BEGIN { printf "%.1f", (b - a) / 1e9 }')
  rm -rf "$work"
  passed=$(count PASSED "$log") failed=$(count_failed "$log") skipped=$(count SKIPPED "$log")
  if ((rc == 124 || rc == 137)); then
    status=TIMEOUT
  elif ((rc != 0)); then
    status=FAIL
  elif ! grep -q '^\[==========\] .* ran\.' "$log"; then
    status=FAIL
  elif [[ ${passed:-0} == 0 && ${skipped:-0} != 0 ]]; then
    status=SKIP
  else
    status=PASS
  fi
  report=$(printf '%-7s %-36s %4d passed %4d failed %4d skipped %7ss  (exit %d)' "$status" "$name" \
    "${passed:-0}" "${failed:-0}" "${skipped:-0}" "$secs" "$rc")
  if [[ $status == FAIL || $status == TIMEOUT ]]; then
    report+=$'\n'$(tail -n 25 "$log" | sed 's/^/    | /')
  fi
  [[ ${skipped:-0} == 0 ]] || report+=$'\n'$(skip_reasons "$log")
  printf '%s\n' "$report"
  echo "$status ${passed:-0} ${failed:-0} ${skipped:-0}" >"$log_dir/$name.result"
}

echo "run_tests.sh: ${#tests[@]} test binaries from $here (logs in $log_dir)"
running=0
for t in "${tests[@]}"; do
  run_one "$t" &
  running=$((running + 1))
  if ((running >= jobs)); then
    wait -n
    running=$((running - 1))
  fi
done
wait
cat "$log_dir"/*.result | awk '
  { n[$1]++; p += $2; f += $3; s += $4 }
  END {
    printf "run_tests.sh: binaries: %d pass, %d all-skipped, %d fail, %d timeout; tests: %d passed, %d failed, %d skipped\n",
      n["PASS"], n["SKIP"], n["FAIL"], n["TIMEOUT"], p, f, s
    exit (n["FAIL"] + n["TIMEOUT"] > 0) }'
EOF
} >"$stage/run_tests.sh"
chmod 755 "$stage/run_tests.sh" "$stage/check_libs.sh"

# The device tool carries at most 64 MiB with the working tree (docs/gpu.md).
carry_limit=60
size=$(du -sm "$stage" | cut -f1)
if ((make_tar)); then
  # -9: a 64 MiB window spans several test binaries, which share most of their bytes (every one
  # links the kernels): 38 MiB against -6's 59 MiB at 2470e30.
  tar -C "$stage" -cf - . | xz -T0 -9 >"$out_dir/attncamp-bundle.tar.xz"
  cp "$stage/MANIFEST" "$out_dir/MANIFEST"
  rm -rf "$stage"
  size_tar=$(du -m "$out_dir/attncamp-bundle.tar.xz" | cut -f1)
  echo "bundle.sh: ${#exes[@]} executables, ${#copied[@]} libraries, $size MiB unpacked;" \
    "$out_dir/attncamp-bundle.tar.xz is $size_tar MiB"
  ((size_tar <= carry_limit)) || echo "bundle.sh: warning: over the $carry_limit MiB the device tool can carry" >&2
else
  echo "bundle.sh: ${#exes[@]} executables, ${#copied[@]} libraries in $out_dir ($size MiB)"
  ((size <= carry_limit)) || echo "bundle.sh: note: to carry it to the device machine, bundle with --tar" >&2
fi
