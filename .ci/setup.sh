#!/usr/bin/env bash
# Set up a machine for the harness: Fashion-MNIST from the Debian package
# dataset-fashion-mnist (offline-capable) and a virtual environment .venv with the
# harness installed in editable mode with the given extras (default: torch,keras,dev).
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
.venv/bin/pip install -q -e ".[${EXTRAS}]"
