#!/usr/bin/env bash
# Fills .debs/ with the Debian packages a machine without them (the GPU device machine) needs to
# build and run attncamp: the -dev packages scripts/setup.sh installs for building, protoc and
# pkgconf, and every runtime library those load (found with ldd here), minus glibc, the C++
# runtime and CUDA, which that machine has. scripts/gpu_check.sh --build unpacks them there.
#
#   scripts/fetch_debs.sh [DIR]     (default .debs; needs the packages installed here)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
dest=${1:-.debs}
multiarch=$(gcc -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)

dev_packages=(
  libhdf5-dev libprotobuf-dev protobuf-compiler libopenmpi-dev openmpi-bin openmpi-common libopenblas-openmp-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev libcli11-dev zlib1g-dev pkgconf-bin
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev nlohmann-json3-dev libbiosig-dev libfftw3-dev
)
# Files whose runtime closure must come along: the libraries the build links and the tools it runs.
anchors=(
  /usr/lib/"$multiarch"/libhdf5_serial.so /usr/lib/"$multiarch"/libprotobuf.so
  /usr/lib/"$multiarch"/openblas-openmp/libopenblas.so.0 /usr/lib/"$multiarch"/libbenchmark.so
  /usr/lib/"$multiarch"/openmpi/lib/libmpi.so /usr/bin/protoc /usr/bin/pkgconf /usr/bin/opal_wrapper
  /usr/lib/"$multiarch"/libturbojpeg.so /usr/lib/"$multiarch"/libpng16.so /usr/lib/"$multiarch"/libbiosig.so
  /usr/lib/"$multiarch"/libfftw3.so
)
anchors+=(/usr/lib/"$multiarch"/openmpi/lib/openmpi3/mca_*.so)
# Provided by the machine itself: glibc, the compiler's runtime, CUDA; and Open MPI's fabric
# plugins' libraries (scripts/bundle.sh leaves those plugins out too).
skip_re='^(libc6|libgcc-s1|libstdc\+\+6|gcc-[0-9]+-base|libgomp1|libcuda|libnvidia|nvidia-|cuda-|libnccl)'
fabric_re='^lib(fabric|uc[pstm]|ibverbs|rdmacm|psm|infinipath|efa)'

for p in "${dev_packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
    { echo "fetch_debs.sh: $p is not installed here; run scripts/setup.sh first" >&2; exit 1; }
done

declare -A packages=()
for p in "${dev_packages[@]}"; do packages[$p]=1; done
libs=()
for f in "${anchors[@]}"; do
  [[ -e $f ]] || { echo "fetch_debs.sh: $f is missing here" >&2; exit 1; }
  ldd "$f" | awk '{print $1}' | grep -qE "$fabric_re" && continue
  libs+=("$(readlink -f "$f")")
  for lib in $(ldd "$f" | awk '$3 ~ /^\// {print $3}'); do libs+=("$(readlink -f "$lib")"); done
done
# One dpkg -S for all (Debian 12 registers some files under /lib, some under /usr/lib).
mapfile -t libs < <(printf '%s\n' "${libs[@]}" | sort -u)
for pkg in $(dpkg -S "${libs[@]}" "${libs[@]/#\/usr\/lib/\/lib}" 2>/dev/null | cut -d: -f1 | sort -u); do
  [[ $pkg =~ $skip_re ]] || packages[$pkg]=1
done

rm -rf "$dest"
mkdir -p "$dest"
specs=()
for p in $(printf '%s\n' "${!packages[@]}" | sort); do
  v=$(dpkg-query -W -f='${Version}' "$p")
  # The version installed here (what was built and tested against), else the archive's current one.
  if (cd "$dest" && apt-get download -q "$p=$v" >/dev/null 2>&1); then
    specs+=("$p=$v")
  elif err=$(cd "$dest" && apt-get download -q "$p" 2>&1 >/dev/null); then
    specs+=("$p (the archive's version; $v here)")
  else
    echo "fetch_debs.sh: cannot download $p: $err" >&2
    exit 1
  fi
done
printf '%s\n' "${specs[@]}" >"$dest/PACKAGES"
echo "fetch_debs.sh: ${#specs[@]} packages, $(du -sm "$dest" | cut -f1) MiB in $dest (list in $dest/PACKAGES)"
