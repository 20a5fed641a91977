#!/bin/sh
# Entrypoint helper: `docker run IMAGE full` writes the report under /results; say where the
# data and results are before handing over to bench (exec: signals reach it, so a stopped
# container's runs end as "interrupted" with their records kept).
set -e
if [ "$2" = "full" ]; then
  echo "lr-policy-bench: datasets from ${BENCH_DATA_DIR:-/data}, results in $(pwd)" >&2
fi
exec "$@"
