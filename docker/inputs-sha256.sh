#!/usr/bin/env bash
# The SHA-256 of what the images are built from, besides the code: the Dockerfile, its
# .dockerignore, docker/ and the lock files (requirements/). docker/check-images.sh writes
# it to docker/image-check.sha256 when the check passes; .ci/run runs the check when the
# committed value differs from this one. Prints the hex digest.
set -euo pipefail
cd "$(dirname "$0")/.."
find Dockerfile .dockerignore docker requirements -type f ! -name image-check.sha256 ! -name '*.pyc' -print0 \
  | LC_ALL=C sort -z | xargs -0 sha256sum | sha256sum | cut -d' ' -f1
