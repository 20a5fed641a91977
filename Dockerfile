# syntax=docker/dockerfile:1
# The harness's images, one GPU framework each, built from the working tree:
#   docker/build.sh                     # both, with the identity build arguments filled in
#   docker build --target torch -t lr-policy-bench:torch .
#   docker build --target keras -t lr-policy-bench:keras .
#   docker run --rm --gpus all --shm-size=8g -v "$PWD/results":/results lr-policy-bench:torch full
# Checked by building and running both (docker/check-images.sh, `nox -s image`): docs/images.md.
#
# Base: the official debian:bookworm-slim (Python 3.11, the release CI tests on), pinned by
# digest: the image index of tag bookworm-20260803-slim, as recorded by docker-library/repo-info
# (repos/debian/remote/bookworm-20260803-slim.md). The frameworks' wheels bring their CUDA
# libraries; the NVIDIA container runtime brings the driver (the NVIDIA_* variables below).
# The check builds FROM a local debootstrap of the same release (--build-arg BASE_IMAGE=...).
ARG BASE_IMAGE=debian:bookworm-slim@sha256:abd67ffcfa541b485a3dff59865ab629aa048a6c613e639d36e7456b0b229241

FROM ${BASE_IMAGE} AS base
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    BENCH_DATA_DIR=/data \
    XDG_CACHE_HOME=/cache \
    MPLCONFIGDIR=/cache/matplotlib \
    KERAS_HOME=/cache/keras \
    BENCH_IMAGE_LOCK=/opt/bench/requirements.txt \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# Fashion-MNIST from the distribution (dataset-fashion-mnist: the official IDX files in
# /usr/share/datasets/fashion-mnist, where the harness looks); nothing is downloaded from
# outside the package registries. apt versions are not pinned (DL3008): the base digest pins
# the release, and its security updates are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
         python3 python3-venv ca-certificates dataset-fashion-mnist \
    && apt-get clean && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv \
    && useradd --create-home --uid 1000 bench \
    && mkdir -p /data /results /cache /opt/bench \
    && chown bench:bench /results /cache && chmod 1777 /results /cache
# Installs below read two optional build secrets, for a mirror or a proxy that re-signs TLS
# (never stored in a layer): `--secret id=ca,src=BUNDLE.pem` (PIP_CERT) and
# `--secret id=pipconf,src=pip.conf` (PIP_CONFIG_FILE: index-url, trusted hosts, ...).
# The project itself goes in last, with --no-deps: editing the code never reinstalls the
# frameworks, and every dependency comes from the lock, checked against its hashes.

FROM base AS torch
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV NVIDIA_REQUIRE_CUDA="cuda>=13.0"
ARG LOCK_SHA256=""
COPY requirements/torch.txt /opt/bench/requirements.txt
RUN --mount=type=secret,id=ca,required=false --mount=type=secret,id=pipconf,required=false \
    if [ -n "$LOCK_SHA256" ]; then echo "$LOCK_SHA256  /opt/bench/requirements.txt" | sha256sum -c -; fi \
    && if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
    && pip install --no-cache-dir --require-hashes -r /opt/bench/requirements.txt
COPY pyproject.toml README.md /tmp/src/
COPY bench /tmp/src/bench
COPY backends /tmp/src/backends
# the reader checks the packaged files against the published MD5 sums
RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/src \
    && rm -rf /tmp/src \
    && BENCH_OFFLINE=1 XDG_CACHE_HOME=/tmp/bench-cache bench data check fashion_mnist \
    && rm -rf /tmp/bench-cache
# identity (last, so a new commit rebuilds only these layers): read into meta.json by bench/provenance.py
ARG BASE_IMAGE
ARG BASE_DIGEST=""
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="lr-policy-bench:torch" \
      org.opencontainers.image.description="lr-policy-bench, PyTorch backend (CUDA 13 wheels; host driver >= 580)" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}" \
      io.lr-policy-bench.lock="requirements/torch.txt" \
      io.lr-policy-bench.lock.sha256="${LOCK_SHA256}"
ENV BENCH_IMAGE_TARGET=torch \
    BENCH_IMAGE_COMMIT="${GIT_COMMIT}" \
    BENCH_IMAGE_LOCK_SHA256="${LOCK_SHA256}" \
    BENCH_IMAGE_BASE="${BASE_IMAGE}" \
    BENCH_IMAGE_BASE_DIGEST="${BASE_DIGEST}"
USER 1000
WORKDIR /results
VOLUME ["/data", "/results"]
ENTRYPOINT ["bench"]
CMD ["smoke", "--out", "/results/smoke"]

FROM base AS keras
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
ENV NVIDIA_REQUIRE_CUDA="cuda>=12.0"
ARG LOCK_SHA256=""
COPY requirements/keras.txt /opt/bench/requirements.txt
RUN --mount=type=secret,id=ca,required=false --mount=type=secret,id=pipconf,required=false \
    if [ -n "$LOCK_SHA256" ]; then echo "$LOCK_SHA256  /opt/bench/requirements.txt" | sha256sum -c -; fi \
    && if [ -s /run/secrets/ca ]; then export PIP_CERT=/run/secrets/ca; fi \
    && if [ -s /run/secrets/pipconf ]; then export PIP_CONFIG_FILE=/run/secrets/pipconf; fi \
    && pip install --no-cache-dir --require-hashes -r /opt/bench/requirements.txt
COPY pyproject.toml README.md /tmp/src/
COPY bench /tmp/src/bench
COPY backends /tmp/src/backends
RUN pip install --no-cache-dir --no-deps --no-build-isolation /tmp/src \
    && rm -rf /tmp/src \
    && BENCH_OFFLINE=1 XDG_CACHE_HOME=/tmp/bench-cache bench data check fashion_mnist \
    && rm -rf /tmp/bench-cache
ARG BASE_IMAGE
ARG BASE_DIGEST=""
ARG GIT_COMMIT=unknown
LABEL org.opencontainers.image.title="lr-policy-bench:keras" \
      org.opencontainers.image.description="lr-policy-bench, Keras 3 on TensorFlow (CUDA 12.9 wheels; host driver >= 525, 575 advised)" \
      org.opencontainers.image.revision="${GIT_COMMIT}" \
      org.opencontainers.image.base.name="${BASE_IMAGE}" \
      org.opencontainers.image.base.digest="${BASE_DIGEST}" \
      io.lr-policy-bench.lock="requirements/keras.txt" \
      io.lr-policy-bench.lock.sha256="${LOCK_SHA256}"
ENV BENCH_IMAGE_TARGET=keras \
    BENCH_IMAGE_COMMIT="${GIT_COMMIT}" \
    BENCH_IMAGE_LOCK_SHA256="${LOCK_SHA256}" \
    BENCH_IMAGE_BASE="${BASE_IMAGE}" \
    BENCH_IMAGE_BASE_DIGEST="${BASE_DIGEST}"
USER 1000
WORKDIR /results
VOLUME ["/data", "/results"]
ENTRYPOINT ["bench"]
CMD ["smoke", "--out", "/results/smoke"]
