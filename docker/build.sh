#!/bin/sh
# Build both images from the working tree (run from anywhere): lr-policy-bench:torch and :keras.
set -e
cd "$(dirname "$0")/.."
for target in torch keras; do
  docker build --target "$target" -t "lr-policy-bench:$target" .
done
