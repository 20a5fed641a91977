# syntax=docker/dockerfile:1
# CUDA images of the harness, one GPU framework per image (as Keras' own CI images do):
#   docker build --target torch -t lr-policy-bench:torch .
#   docker build --target keras -t lr-policy-bench:keras .
#   docker run --gpus all -v /path/to/datasets:/data -v "$PWD/results":/results lr-policy-bench:torch full
# Base: NVIDIA's CUDA 12.6 runtime with cuDNN on Ubuntu 24.04 (Python 3.12), pinned by tag.
# Chosen over the frameworks' own images so both targets share one OS, one Python and one
# data layer; torch and TensorFlow bring their CUDA libraries as pip wheels built for CUDA 12.
ARG CUDA_IMAGE=nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04

FROM ${CUDA_IMAGE} AS base
ENV DEBIAN_FRONTEND=noninteractive \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    BENCH_DATA_DIR=/data \
    XDG_CACHE_HOME=/cache
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# apt versions are not pinned (DL3008): the base image tag pins the distribution release,
# and Ubuntu's security updates within it are wanted.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends python3 python3-venv ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && python3 -m venv /opt/venv
# Fashion-MNIST, the offline default: the official IDX files, checked against the MD5 sums
# the dataset's README publishes, where the reader looks (the Debian package's path).
COPY docker/fashion-mnist.md5 /tmp/fashion-mnist.md5
WORKDIR /usr/share/datasets/fashion-mnist
RUN for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do \
         curl -fsSL --retry 3 -o "$f.gz" "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/$f.gz"; \
       done \
    && md5sum -c /tmp/fashion-mnist.md5 && rm /tmp/fashion-mnist.md5
RUN useradd --create-home --uid 1000 bench && mkdir -p /data /results /cache && chown bench /results /cache
WORKDIR /src
COPY --chown=bench pyproject.toml README.md ./
COPY --chown=bench bench ./bench
COPY --chown=bench backends ./backends

FROM base AS torch
# the same extra the README installs for the PyTorch backend
# DL3013: this installs the working tree itself; its pyproject.toml states the versions
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[torch]"
USER 1000
WORKDIR /results
VOLUME ["/data", "/results"]
ENTRYPOINT ["bench"]
CMD ["smoke"]

FROM base AS keras
# the README's extra for the Keras backend on CUDA machines (tensorflow[and-cuda])
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[keras-cuda]"
USER 1000
WORKDIR /results
VOLUME ["/data", "/results"]
ENTRYPOINT ["bench"]
CMD ["smoke"]
