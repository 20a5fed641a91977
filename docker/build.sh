#!/usr/bin/env bash
# Build the images from the working tree (run from anywhere): docker/build.sh [torch] [keras]
# (default: both), tagged lr-policy-bench:TARGET, with the image's identity filled in:
# the git commit (-dirty if what the image copies has changes), the lock file's SHA-256 and
# the base image's digest (labels org.opencontainers.image.* and BENCH_IMAGE_* variables,
# which every run's meta.json records).
#
# Environment (all optional):
#   ENGINE       docker (default) or podman, with any global flags: ENGINE="podman --runtime runc"
#   BUILD_FLAGS  more flags for the engine's build, e.g. "--network host" or "--no-cache"
#   BASE_IMAGE   the base (default: the Dockerfile's debian:bookworm-slim@sha256:...)
#   TAG_PREFIX   the image name (default: lr-policy-bench)
#   CA_BUNDLE    a PEM file of CA certificates for pip (a proxy that re-signs TLS, a mirror with
#                a private CA): passed as build secret `ca`, never stored in a layer
#   PIP_CONF     a pip.conf (index-url of a mirror, credentials): build secret `pipconf`
set -euo pipefail
cd "$(dirname "$0")/.."
read -ra engine <<< "${ENGINE:-docker}"
read -ra build_flags <<< "${BUILD_FLAGS:-}"
prefix="${TAG_PREFIX:-lr-policy-bench}"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(torch keras)

commit="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
if [ "$commit" != unknown ] && [ -n "$(git status --porcelain -- Dockerfile pyproject.toml README.md bench backends requirements)" ]; then
  commit="$commit-dirty"
fi
base="${BASE_IMAGE:-$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)}"
case "$base" in
  *@sha256:*) base_digest="${base#*@}" ;;  # pinned by digest: the digest itself
  *) base_digest="$("${engine[@]}" image inspect --format '{{.Id}}' "$base")"  # a local image: its id
     base_digest="sha256:${base_digest#sha256:}" ;;
esac
common=(--build-arg "BASE_IMAGE=$base" --build-arg "BASE_DIGEST=$base_digest" --build-arg "GIT_COMMIT=$commit")
if [ -n "${CA_BUNDLE:-}" ]; then common+=(--secret "id=ca,src=$CA_BUNDLE"); fi
if [ -n "${PIP_CONF:-}" ]; then common+=(--secret "id=pipconf,src=$PIP_CONF"); fi

for target in "${targets[@]}"; do
  lock="requirements/$target.txt"
  [ -f "$lock" ] || { echo "build.sh: no lock file $lock (targets: torch, keras)" >&2; exit 2; }
  lock_sha="$(sha256sum "$lock" | cut -d' ' -f1)"
  echo "build.sh: $prefix:$target from $base (commit $commit, lock $lock sha256 $lock_sha)" >&2
  "${engine[@]}" build --target "$target" -t "$prefix:$target" "${build_flags[@]}" "${common[@]}" \
    --build-arg "LOCK_SHA256=$lock_sha" .
done
