#!/usr/bin/env bash
# Set up a machine for the harness: Fashion-MNIST from the Debian package
# dataset-fashion-mnist (offline-capable) and a virtual environment .venv with the
# harness installed in editable mode with the given extras (default: torch,keras,dev).
# Extras that have a lock file are installed from it, every file checked against its hash,
# then the harness with --no-deps: torch,keras,dev from requirements/ci.txt (what CI tests,
# with the images' framework versions), torch from requirements/torch.txt, keras-cuda from
# requirements/keras.txt (the images' locks). Other extras: pip resolves them.
# Idempotent: a second call only checks. Used by the README's commands and by CI.
set -euo pipefail
cd "$(dirname "$0")/.."
EXTRAS="${1:-torch,keras,dev}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
if [ ! -f /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz ]; then
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dataset-fashion-mnist
fi
PY="${PYTHON:-python3}"
"$PY" -c 'import sys; assert sys.version_info >= (3, 11), f"Python >= 3.11 needed, found {sys.version}"'
[ -x .venv/bin/python ] || "$PY" -m venv .venv
case "$EXTRAS" in
  torch,keras,dev) LOCK=requirements/ci.txt ;;
  torch) LOCK=requirements/torch.txt ;;
  keras-cuda) LOCK=requirements/keras.txt ;;
  *) LOCK="" ;;
esac
if [ -n "$LOCK" ]; then
  .venv/bin/pip install -q --require-hashes -r "$LOCK"
  .venv/bin/pip install -q --no-deps --no-build-isolation -e .
else
  .venv/bin/pip install -q -e ".[${EXTRAS}]"
fi
