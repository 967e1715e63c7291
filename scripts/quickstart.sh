#!/usr/bin/env bash
# From a fresh clone to a trained model: installs dependencies, builds the attncamp binary,
# converts Fashion-MNIST to HDF5 and trains the reference ViT on it (CPU unless a GPU and a
# CUDA build are present). Extra arguments go to `attncamp train`, e.g. --set trainer.epochs=1.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

echo "== [1/4] dependencies (scripts/setup.sh)"
scripts/setup.sh

echo "== [2/4] build (build/bin/attncamp)"
if [[ ! -f build/CMakeCache.txt ]]; then
  cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release
fi
cmake --build build -j"$(nproc)" --target attncamp

echo "== [3/4] data (datasets/fashion-mnist)"
if [[ -f datasets/fashion-mnist/train.h5 && -f datasets/fashion-mnist/test.h5 ]]; then
  echo "datasets/fashion-mnist/{train,test}.h5 already exist, skipping conversion"
else
  build/bin/attncamp convert fashion-mnist --output datasets/fashion-mnist
fi

echo "== [4/4] train (configs/vit_fashion_mnist.pbtxt)"
build/bin/attncamp train --config configs/vit_fashion_mnist.pbtxt "$@"
