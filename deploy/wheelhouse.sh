#!/bin/sh
# Every wheel the image installs, into one folder (default build/wheelhouse), so that `docker build` needs no
# package index: the CPU build of torch 2.13.0, the server and PostgreSQL extras' dependencies, and the build
# backend (setuptools, wheel) the Dockerfile builds the project's wheel with. Run it with a Python 3.11 on
# x86_64 Linux (the base image's), where pip can reach an index, a mirror or a local wheel folder; then copy
# the folder to an air-gapped machine with the source tree.
#   deploy/wheelhouse.sh [DIR]        PYTHON=python3.11 deploy/wheelhouse.sh
#   TORCH_INDEX_URL=...               where to fetch the CPU torch wheel if pip's own sources have no +cpu build
set -eu
cd "$(dirname "$0")/.."
WHEELHOUSE=${1:-build/wheelhouse}
PYTHON=${PYTHON:-python3}
TORCH_INDEX_URL=${TORCH_INDEX_URL:-https://download.pytorch.org/whl/cpu}

"$PYTHON" - <<'PY'
import platform, sys
if sys.version_info[:2] != (3, 11) or platform.machine() != "x86_64":
    sys.exit(f"error: the image runs Python 3.11 on x86_64; this is Python {platform.python_version()} "
             f"on {platform.machine()}: set PYTHON to a Python 3.11")
PY
mkdir -p "$WHEELHOUSE"

# torch first: the CPU build. pip's configured sources may have it (a local wheel folder); PyPI's default Linux
# wheel is the CUDA build (gigabytes of nvidia-* wheels), so fall back to PyTorch's CPU index.
if ! ls "$WHEELHOUSE"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
  "$PYTHON" -m pip download --quiet --no-deps --only-binary :all: --dest "$WHEELHOUSE" torch==2.13.0
  if ! ls "$WHEELHOUSE"/torch-2.13.0+cpu-*.whl >/dev/null 2>&1; then
    rm -f "$WHEELHOUSE"/torch-2.13.0-*.whl
    "$PYTHON" -m pip download --quiet --no-deps --only-binary :all: --dest "$WHEELHOUSE" \
      --index-url "$TORCH_INDEX_URL" torch==2.13.0
  fi
fi

# The rest: wheels of every dependency (sdists are built into wheels here), torch resolved from the folder.
"$PYTHON" -m pip wheel --quiet --find-links "$WHEELHOUSE" --wheel-dir "$WHEELHOUSE" \
  '.[server,postgres]' setuptools wheel
# The project's own wheel is built from the source tree inside the image, never taken from here.
rm -f "$WHEELHOUSE"/temporal_order-*.whl
# What the image installs before it copies the sources (a layer that a change to the code leaves cached): every
# wheel here, pinned, but the build backend. A wheel name is NAME-VERSION-...; a second version of a package
# left from an earlier run would make the list unsatisfiable, so empty the folder when the pins change.
ls "$WHEELHOUSE" | sed -n 's/^\([^-]*\)-\([^-]*\)-.*\.whl$/\1==\2/p' | grep -v -E '^(setuptools|wheel)==' \
  > "$WHEELHOUSE/requirements.txt"
echo "$WHEELHOUSE: $(ls "$WHEELHOUSE" | wc -l) wheels, $(du -sh "$WHEELHOUSE" | cut -f1)"
