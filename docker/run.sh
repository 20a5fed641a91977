#!/usr/bin/env bash
# Run an image the way it is meant to be run: docker/run.sh torch|keras [bench arguments]
# (default arguments: full). Results land in $RESULTS on the host (default ./results, created
# if missing), written as you (your uid:gid), so they outlive the container.
#
# Environment (all optional):
#   ENGINE     docker (default) or podman, with any global flags: ENGINE="podman --runtime runc"
#   GPUS       all (default), a device list ("0,1"), or none (CPU). docker: --gpus; podman: CDI
#              devices nvidia.com/gpu=... (needs `nvidia-ctk cdi generate`, docs/images.md)
#   DATA       a folder of datasets, mounted read-only at /data (default ./data, if it exists)
#   RESULTS    the results folder, mounted at /results (default ./results)
#   SHM_SIZE   shared memory (default 8g: DataLoader workers and torchrun need more than 64m)
#   RUN_AS     uid:gid inside the container (default: yours)
#   IMAGE      the image (default lr-policy-bench:TARGET)
#   RUN_FLAGS  more flags for the engine's run
set -euo pipefail
target="${1:?usage: docker/run.sh torch|keras [bench arguments]}"
shift
read -ra engine <<< "${ENGINE:-docker}"
read -ra run_flags <<< "${RUN_FLAGS:-}"
results="${RESULTS:-$PWD/results}"
mkdir -p "$results"  # made here, owned by you (an engine creates a missing one as root)
flags=(--rm --user "${RUN_AS:-$(id -u):$(id -g)}" --shm-size "${SHM_SIZE:-8g}"
       -v "$(cd "$results" && pwd):/results")
data="${DATA:-$PWD/data}"
if [ -d "$data" ]; then
  flags+=(-v "$(cd "$data" && pwd):/data:ro")
elif [ -n "${DATA:-}" ]; then
  echo "run.sh: DATA=$DATA is not a folder" >&2
  exit 2
fi
gpus="${GPUS:-all}"
if [ "$gpus" != none ]; then
  case "${engine[*]}" in
    *podman*) IFS=, read -ra ids <<< "$gpus"; for id in "${ids[@]}"; do flags+=(--device "nvidia.com/gpu=$id"); done ;;
    *) if [ "$gpus" = all ]; then flags+=(--gpus all); else flags+=(--gpus "\"device=$gpus\""); fi ;;
  esac
fi
if [ $# -eq 0 ]; then set -- full; fi
exec "${engine[@]}" run "${flags[@]}" "${run_flags[@]}" "${IMAGE:-lr-policy-bench:$target}" "$@"
