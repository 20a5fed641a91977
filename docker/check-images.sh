#!/usr/bin/env bash
# The images, built and run: builds each target from the working tree (docker/build.sh), runs
# `bench smoke` and `bench full --suite fashion-mnist --budget smoke` in it as a non-root user
# created for the check (docker/run.sh, host folders at /data and /results), then checks on
# the host that the run directories are complete and owned by that user, that the image's
# identity is in every meta.json (docker/check_results.py), and that `bench claims` and
# `bench report` read them. Prints build time, image size and run times per target; writes
# docker/image-check.sha256 when it passes with the torch target. Removes what it built
# unless --keep. Usually run through `nox -s image -- [options]` (docs/images.md).
#
# options:
#   --engine podman|docker  (default: podman if installed, else docker)
#   --targets "torch keras" (default: both; commas work too)
#   --base IMAGE            base to build FROM (default localhost/bench-bookworm:latest, made
#                           with debootstrap when missing; root needed). --base official: the
#                           Dockerfile's pinned debian:bookworm-slim digest (needs a registry)
#   --uid N                 the non-root user the containers run as (default 4242, user
#                           bench-check, created when missing)
#   --gpus all|none|LIST    GPUs for the runs (default none)
#   --quick                 one grid instead of two (CI): bench full first, then bench smoke
#                           on its results folder (the same cells: smoke trains nothing more,
#                           it judges them)
#   --keep                  keep the images, the base it made and the results folder
#   --no-cache              build without the engine's layer cache (a cold build's time)
# environment: CA_BUNDLE (PEM for pip in the build; default: pip's own `global.cert`, if
#   any), PIP_CONF (a pip.conf, build secret), MIRROR (Debian mirror for the base; default:
#   the first in apt's sources), PODMAN_RUNTIME (default runc), ULIMITS (podman; default
#   "nofile=4096:4096 nproc=4096:4096"), BENCH (the host's bench; default: on PATH).
set -euo pipefail
cd "$(dirname "$0")/.."
repo="$PWD"

engine_name="" targets="torch keras" base="localhost/bench-bookworm:latest" uid=4242 gpus=none keep=0 no_cache=0 quick=0
while [ $# -gt 0 ]; do
  case "$1" in
    --engine) engine_name="$2"; shift 2 ;;
    --targets) targets="${2//,/ }"; shift 2 ;;
    --base) base="$2"; shift 2 ;;
    --uid) uid="$2"; shift 2 ;;
    --gpus) gpus="$2"; shift 2 ;;
    --quick) quick=1; shift ;;
    --keep) keep=1; shift ;;
    --no-cache) no_cache=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "check-images: unknown option $1 (--help)" >&2; exit 2 ;;
  esac
done
say() { echo "check-images: $*" >&2; }
die() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", b - a }'; }

if [ -z "$engine_name" ]; then
  if command -v podman >/dev/null; then engine_name=podman; else engine_name=docker; fi
fi
case "$engine_name" in
  podman)
    engine=(podman --runtime "${PODMAN_RUNTIME:-runc}")
    ulimit_flags=""
    for u in ${ULIMITS:-nofile=4096:4096 nproc=4096:4096}; do ulimit_flags+=" --ulimit $u"; done
    build_flags="--format docker --network host$ulimit_flags"
    run_flags="--network none$ulimit_flags" ;;
  docker) engine=(docker); build_flags="--network host"; run_flags="--network none" ;;
  *) die "--engine podman or docker, not $engine_name" ;;
esac
command -v "$engine_name" >/dev/null || die "$engine_name is not installed"
[ "$no_cache" = 1 ] && build_flags+=" --no-cache"
[ "$base" = official ] && base="$(sed -n 's/^ARG BASE_IMAGE=//p' Dockerfile)"
bench_cmd="${BENCH:-bench}"
command -v "$bench_cmd" >/dev/null || die "no bench on the host (pip install -e . ; or BENCH=/path/to/bench)"
if [ -z "${CA_BUNDLE+x}" ]; then
  CA_BUNDLE="${PIP_CERT:-$(pip config get global.cert 2>/dev/null || true)}"
fi
export CA_BUNDLE PIP_CONF="${PIP_CONF:-}"

# --- the base: a debootstrap of bookworm, with the official slim image's apt sources and excludes
made_base=0 made_user=0
if ! "${engine[@]}" image inspect "$base" >/dev/null 2>&1; then
  case "$base" in localhost/*) ;; *) die "base $base not found (pull it, or use the default local base)" ;; esac
  [ "$(id -u)" = 0 ] || die "making the base needs root (debootstrap)"
  command -v debootstrap >/dev/null || die "debootstrap is not installed (apt-get install debootstrap)"
  apt_uris() {
    cat /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
      | sed -nE 's/^URIs:[[:space:]]*([^[:space:]]+).*/\1/p; s/^deb[[:space:]]+(\[[^]]*\][[:space:]]+)?([^[:space:]]+).*/\2/p'
  }
  mirror="${MIRROR:-$(apt_uris | grep -E '/debian/?$' | head -n1 || true)}"
  mirror="${mirror:-http://deb.debian.org/debian}"
  security="$(apt_uris | grep -E '/debian-security/?$' | head -n1 || true)"
  security="${security:-http://deb.debian.org/debian-security}"
  say "making $base: debootstrap --variant=minbase bookworm from $mirror"
  t0=$(now)
  rootfs="$(mktemp -d /var/tmp/bench-bookworm.XXXXXX)"
  debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; rm -rf "$rootfs" "$rootfs.log"; die "debootstrap"; }
  rm -f "$rootfs/etc/apt/sources.list"
  cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<EOF
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: $security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
  # what the official -slim variant leaves out (debuerreotype's slimify)
  cat >"$rootfs/etc/dpkg/dpkg.cfg.d/docker" <<'EOF'
path-exclude /usr/share/doc/*
path-include /usr/share/doc/*/copyright
path-exclude /usr/share/man/*
path-exclude /usr/share/groff/*
path-exclude /usr/share/info/*
path-exclude /usr/share/lintian/*
path-exclude /usr/share/linda/*
path-exclude /usr/share/locale/*
path-include /usr/share/locale/locale.alias
EOF
  find "$rootfs/usr/share/doc" -mindepth 2 ! -name copyright ! -type d -delete 2>/dev/null || true
  rm -rf "$rootfs"/usr/share/{man,groff,info,lintian,linda}/* "$rootfs"/var/cache/apt/*.bin \
         "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
  find "$rootfs/usr/share/locale" -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
  tar -C "$rootfs" -c . | "${engine[@]}" import - "$base" >/dev/null
  rm -rf "$rootfs" "$rootfs.log"
  made_base=1
  say "made $base in $(secs "$t0" "$(now)") s"
fi

# --- the non-root user the containers run as, and the host folders they write into
if [ "$(id -u)" = 0 ]; then
  name="$(getent passwd "$uid" | cut -d: -f1 || true)"
  if [ -z "$name" ]; then
    name=bench-check
    useradd --system --no-create-home --shell /usr/sbin/nologin --uid "$uid" --user-group "$name"
    made_user=1
  fi
  gid="$(id -g "$name")"
else
  uid="$(id -u)" gid="$(id -g)" name="$(id -un)"
fi
[ "$uid" != 0 ] || die "--uid 0: the check is of a non-root user"
work="$(mktemp -d /var/tmp/bench-image-check.XXXXXX)"
chmod 755 "$work"
mkdir -p "$work/data"
chown "$uid:$gid" "$work/data"
built=()
cleanup() {
  if [ "$keep" = 0 ]; then
    for img in "${built[@]}"; do "${engine[@]}" rmi -f "$img" >/dev/null 2>&1 || true; done
    if [ "$made_base" = 1 ]; then "${engine[@]}" rmi -f "$base" >/dev/null 2>&1 || true; fi
    if [ "${passed:-0}" = 1 ]; then
      rm -rf "$work"
      if [ "$made_user" = 1 ]; then userdel "$name" >/dev/null 2>&1 || true; fi
    else
      say "results kept for a look: $work"
    fi
  else
    say "kept: ${built[*]} $([ "$made_base" = 1 ] && echo "$base"); results in $work"
  fi
}
trap cleanup EXIT

say "engine: $("${engine[@]}" --version); base: $base; user: $name ($uid:$gid); targets: $targets"
report=()
for t in $targets; do
  image="lr-policy-bench:$t"
  t0=$(now)
  ENGINE="${engine[*]}" BUILD_FLAGS="$build_flags" BASE_IMAGE="$base" docker/build.sh "$t" \
    || die "$t: build"
  built+=("$image")
  build_s=$(secs "$t0" "$(now)")
  size=$("${engine[@]}" image inspect --format '{{.Size}}' "$image")
  label() { "${engine[@]}" image inspect --format "{{index .Config.Labels \"$1\"}}" "$image"; }
  commit="$(label org.opencontainers.image.revision)"
  base_digest="$(label org.opencontainers.image.base.digest)"
  lock_sha="$(sha256sum "requirements/$t.txt" | cut -d' ' -f1)"
  [ "$(label io.lr-policy-bench.lock.sha256)" = "$lock_sha" ] || die "$t: the image's lock label is not requirements/$t.txt's hash"
  case "$commit" in "$(git rev-parse HEAD)"*) ;; *) die "$t: the image's commit label is $commit" ;; esac
  say "$t: built in $build_s s, $(awk -v s="$size" 'BEGIN { printf "%.2f GB", s / 1e9 }') (commit $commit)"

  results="$work/$t"
  mkdir -p "$results"
  chown "$uid:$gid" "$results"
  run() {
    ENGINE="${engine[*]}" GPUS="$gpus" RUN_AS="$uid:$gid" DATA="$work/data" RESULTS="$results" \
      RUN_FLAGS="$run_flags" IMAGE="$image" SHM_SIZE=2g docker/run.sh "$t" "$@"
  }
  if [ "$quick" = 0 ]; then
    t0=$(now)
    run smoke --out /results/smoke || die "$t: bench smoke in the image"
    smoke_s=$(secs "$t0" "$(now)")
    smoke_dir=smoke
  fi
  t0=$(now)
  run full --suite fashion-mnist --budget smoke || die "$t: bench full in the image"  # into /results/runs/full
  full_s=$(secs "$t0" "$(now)")
  if [ "$quick" = 1 ]; then
    t0=$(now)
    run smoke --out /results/runs/full || die "$t: bench smoke in the image"
    smoke_s=$(secs "$t0" "$(now)")
    smoke_dir=runs/full
  fi
  say "$t: bench smoke $smoke_s s, bench full --suite fashion-mnist --budget smoke $full_s s$([ "$quick" = 1 ] && echo " (--quick: smoke judged full's runs)")"

  python3 docker/check_results.py "$results" --uid "$uid" --gid "$gid" --target "$t" --commit "$commit" \
    --lock-sha256 "$lock_sha" --base-digest "$base_digest" \
    --suite-log "$smoke_dir/full-fashion-mnist-smoke.json" --suite-log runs/full/full-fashion-mnist-smoke.json \
    || die "$t: the results on the host"
  "$bench_cmd" claims "$results/$smoke_dir" >"$work/claims-$t.md" || die "$t: bench claims on the host"
  "$bench_cmd" report "$results/runs/full" --out "$work/report-$t" >/dev/null || die "$t: bench report on the host"
  [ -s "$work/report-$t/report.md" ] || die "$t: bench report wrote no report.md"
  python3 - "$results" <<'EOF' >&2
import json, pathlib, sys
meta = json.loads(next(pathlib.Path(sys.argv[1]).rglob("meta.json")).read_text())
print("check-images: meta.json image:", json.dumps(meta["image"]))
print("check-images: meta.json accelerator:", json.dumps(meta["accelerator"]), "framework:", json.dumps(meta["framework"]))
EOF
  report+=("$t build ${build_s}s size $(awk -v s="$size" 'BEGIN { printf "%.2f", s / 1e9 }')GB smoke ${smoke_s}s full ${full_s}s")
  if [ "$keep" = 0 ]; then "${engine[@]}" rmi -f "$image" >/dev/null 2>&1 || true; fi  # disk: one image at a time
done

passed=1
for line in "${report[@]}"; do say "passed: $line"; done
case " $targets " in
  *" torch "*) docker/inputs-sha256.sh >docker/image-check.sha256
               say "docker/image-check.sha256: $(cat docker/image-check.sha256) (commit it with the change)" ;;
esac
