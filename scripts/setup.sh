#!/usr/bin/env bash
# Installs every build, test and run dependency of attncamp from Debian 12 packages.
# Idempotent and quiet: when dpkg already lists every package, apt is not touched at all;
# otherwise apt-get's output goes to a temporary log that is printed only if it fails.
#
# The CUDA toolkit is deliberately not installed here: on our GPU machines it lives under
# /usr/local/cuda, and CMake picks it up from there when present (ATTNCAMP_CUDA=AUTO).
# Without it everything builds and runs on the CPU.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libopenmpi-dev openmpi-bin
  libhdf5-dev libprotobuf-dev protobuf-compiler
  libgtest-dev libgmock-dev libbenchmark-dev
  libopenblas-openmp-dev libcli11-dev zlib1g-dev patchelf
  libturbojpeg0-dev libjpeg62-turbo-dev libpng-dev nlohmann-json3-dev libbiosig-dev libfftw3-dev
  dataset-fashion-mnist
  python3 python3-venv python3-torch python3-torchvision python3-h5py python3-numpy python3-crc32c python3-protobuf
  python3-mne python3-scipy python3-pil
  clang-format
)

missing=()
for pkg in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)
  if [[ "$status" != ii* ]]; then
    missing+=("$pkg")
  fi
done

if [[ ${#missing[@]} -eq 0 ]]; then
  exit 0
fi

sudo_cmd=()
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    sudo_cmd=(sudo)
  else
    echo "setup.sh: missing packages (${missing[*]}) and not root, with no sudo to install them" >&2
    exit 1
  fi
fi

log=$(mktemp -t attncamp-setup.XXXXXX.log)
echo "setup.sh: installing ${missing[*]}"
if ! {
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q &&
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -q "${missing[@]}"
} >"$log" 2>&1; then
  cat "$log" >&2
  echo "setup.sh: apt-get failed (log above, kept in $log)" >&2
  exit 1
fi
rm -f "$log"
