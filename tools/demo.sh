#!/usr/bin/env bash
# The main job on a fresh machine: Debian packages, a release build, the bundled
# Fashion-MNIST data, then the samples compiled and run:
#   1. Samples/mlp.swift            compile, dump, exec on random input
#   2. Samples/fashion_mnist.swift  compile (a smaller ViT than the sample's default, so the
#                                   demo takes minutes: DEMO_DEFINES), memory report,
#                                   schedules, a look at the crops, DINO pretraining on the
#                                   60000 training images (DEMO_EPOCHS, default 1), then
#                                   k-NN evaluation of the teacher on the 10000 val images
# Everything lands in runs/demo/. DEMO_EPOCHS=0 skips training and evaluation.
set -euo pipefail
cd "$(dirname "$0")/.."
epochs=${DEMO_EPOCHS:-1}
threads=${DEMO_THREADS:-$(nproc)}
out=runs/demo
defines=${DEMO_DEFINES:--D dim=96 -D depth=4 -D heads=3 -D out_dim=1024 -D hidden_dim=512 -D bottleneck_dim=64}
bin=.build/release

bash tools/install-packages.sh
echo "== build (release)"
swift build -c release
echo "== data: Fashion-MNIST as PNG folders"
python3 tools/prepare_fashion_mnist.py --out data/fashion-mnist
mkdir -p "$out"

echo "== Samples/mlp.swift: compile, dump, exec"
"$bin/dinoc" compile Samples/mlp.swift -o "$out/mlp.plan.bin"
"$bin/dinoc" dump "$out/mlp.plan.bin" --memory | tail -n 4
python3 tools/random_safetensors.py "$out/mlp.in.safetensors" x=8,32
"$bin/dino-run" exec "$out/mlp.plan.bin" --program forward --inputs "$out/mlp.in.safetensors" \
  -o "$out/mlp.out.safetensors" --threads "$threads"
echo "wrote $out/mlp.out.safetensors"

echo "== Samples/fashion_mnist.swift: compile"
# shellcheck disable=SC2086
"$bin/dinoc" compile Samples/fashion_mnist.swift -o "$out/fmnist.plan.bin" $defines \
  -D epochs="$((epochs > 0 ? epochs : 1))" -D warmup_epochs=0
"$bin/dinoc" dump "$out/fmnist.plan.bin" --memory | grep -E "^(memory|persistent)"
"$bin/dinoc" dump "$out/fmnist.plan.bin" --schedules --iterations-per-epoch 937 | head -n 5
echo "== the multi-crop views"
"$bin/dino-run" crops "$out/fmnist.plan.bin" --data data/fashion-mnist/train -o "$out/crops.png" --count 4
if [ "$epochs" -gt 0 ]; then
  echo "== DINO pretraining: $epochs epoch(s), $threads threads"
  rm -rf "$out/fmnist"
  "$bin/dino-run" train "$out/fmnist.plan.bin" --data data/fashion-mnist/train \
    --epochs "$epochs" --threads "$threads" --output "$out/fmnist" --log-every 50
  echo "== k-NN evaluation of the teacher (train features vs val)"
  "$bin/dino-run" knn "$out/fmnist.plan.bin" --checkpoint "$out/fmnist/checkpoint.safetensors" \
    --train data/fashion-mnist/train --val data/fashion-mnist/val --threads "$threads"
fi
echo "== done: $out"
