#!/usr/bin/env bash
# Builds attncamp (configuring build/ as Release + Ninja the first time; a build/ configured with
# another generator is kept) and runs the whole test suite with ctest. Extra arguments go to
# ctest, e.g. `scripts/test.sh -R tensor`.
# Dependencies come from scripts/setup.sh, which this script does not run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

jobs=$(nproc)
hint() { echo "test.sh: $1 failed; are the dependencies installed? run scripts/setup.sh" >&2; }

if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release || { hint "cmake configure"; exit 1; }
fi
cmake --build build -j"$jobs" || { hint "the build"; exit 1; }
ctest --test-dir build --output-on-failure --no-tests=error -j"$jobs" "$@"
