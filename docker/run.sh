#!/bin/sh
# Run an image with the GPU flags and the two volumes: docker/run.sh torch full
#   DATA=/path/to/datasets (read-only at /data), RESULTS=./results (at /results)
set -e
target="${1:?usage: docker/run.sh torch|keras [bench arguments]}"
shift
exec docker run --rm --gpus all \
  -v "${DATA:-$PWD/data}:/data:ro" -v "${RESULTS:-$PWD/results}:/results" \
  "lr-policy-bench:$target" "${@:-full}"
