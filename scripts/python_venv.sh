#!/usr/bin/env bash
# Creates (or reuses) the Python virtual environment that tests and benchmarks compare attncamp
# against: pycocotools (the COCO evaluation reference), faster-coco-eval and numpy, pinned, from
# PyPI; Debian's python3-venv provides the venv module (scripts/setup.sh installs it). Prints the
# environment's interpreter on stdout; pip's output goes to stderr. .ci/run exports it to the
# tests as ATTNCAMP_TEST_PYTHON; benchmarks/coco_eval.sh runs the peers with it.
# Usage: scripts/python_venv.sh [DIR]   (default build-ci-venv in the checkout, git-ignored)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

dir=${1:-build-ci-venv}
requirements=(pycocotools==2.0.11 faster-coco-eval==1.8.0 numpy==2.4.6)
stamp="$dir/attncamp-requirements.txt"

if [[ ! -x "$dir/bin/python" || ! -f "$stamp" || "$(cat "$stamp")" != "${requirements[*]}" ]]; then
  echo "python_venv.sh: installing ${requirements[*]} into $dir" >&2
  /usr/bin/python3 -m venv "$dir" >&2
  "$dir/bin/pip" install -q --disable-pip-version-check "${requirements[@]}" >&2
  echo "${requirements[*]}" >"$stamp"
fi
echo "$(cd "$dir" && pwd)/bin/python"
