#!/usr/bin/env bash
# bench_data.sh — data-pipeline throughput: DinoData against torchvision's DINO augmentation.
#
#   tools/bench_data.sh [SECONDS]      (default 20 s per measurement)
#
# Recipes (docs/PLATFORM.md §5): fmnist = Fashion-MNIST train PNGs (28×28 grey), 2×28 + 6×12
# crops, 1 channel; tiny224 = 224×224 synthetic photo-like JPEGs, 2×224 + 8×96 crops, RGB;
# imagenet-like = the tiny224 recipe on 500×375 JPEGs. Each with 1 and 2 threads, best of
# $REPEATS (default 3) runs alternating with torchvision's, which runs only if
# `import torchvision` works (the project never needs it).
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER=${1:-20}
BUILD=.build/release
WORK=${BENCH_DATA_DIR:-.build/bench-data}
mkdir -p "$WORK"

swift build -c release --target DinoData >/dev/null
swiftc -O -module-name bench_data tools/bench_data.swift -o "$WORK/bench_data" \
  -I "$BUILD/Modules" -Xcc -fmodule-map-file="$BUILD/CDinoImage.build/module.modulemap" \
  -Xcc -I -Xcc Sources/CDinoImage/include \
  "$BUILD"/DinoData.build/*.swift.o "$BUILD"/DinoRandom.build/*.swift.o \
  "$BUILD"/CDinoImage.build/*.c.o -ljpeg -lpng -lm

FMNIST=${FMNIST_DIR:-data/fashion-mnist}
python3 tools/prepare_fashion_mnist.py --out "$FMNIST" >/dev/null
[ -d "$WORK/jpeg224" ] || "$WORK/bench_data" make-jpegs "$WORK/jpeg224" 512 224 224
[ -d "$WORK/jpeg500" ] || "$WORK/bench_data" make-jpegs "$WORK/jpeg500" 512 500 375

echo "machine: $(nproc) cores,$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2), load $(cut -d' ' -f1-3 /proc/loadavg)"
TORCH=0
if python3 -c "import torchvision" 2>/dev/null; then TORCH=1; else echo "torchvision not installed: skipping the comparison"; fi

# Each (recipe, threads) pair: DinoData and torchvision alternately, $REPEATS times, best
# kept — the machine may be shared, and the best run is the least disturbed one.
REPEATS=${REPEATS:-3}
measure() {  # label recipe dir threads
  local label=$1 recipe=$2 dir=$3 t=$4 ours="" theirs=""
  for _ in $(seq "$REPEATS"); do
    ours+="$("$WORK/bench_data" "$recipe" "$dir" "$t" "$SECONDS_PER" | sed "s/$recipe/$label/")"$'\n'
    if [ "$TORCH" = 1 ]; then
      theirs+="$(python3 tools/bench_data_torchvision.py "$recipe" "$dir" "$t" "$SECONDS_PER" | sed "s/$recipe/$label/")"$'\n'
    fi
  done
  printf '%s' "$ours" | grep . | awk -F': ' '{split($2,a," "); print a[1]": "$0}' | sort -g | tail -1 | cut -d' ' -f2-
  [ "$TORCH" = 1 ] && printf '%s' "$theirs" | grep . | awk -F': ' '{split($2,a," "); print a[1]": "$0}' | sort -g | tail -1 | cut -d' ' -f2-
  return 0
}
for t in 1 2; do measure fmnist fmnist "$FMNIST/train" "$t"; done
for t in 1 2; do measure tiny224 tiny224 "$WORK/jpeg224" "$t"; done
for t in 1 2; do measure imagenet-like tiny224 "$WORK/jpeg500" "$t"; done

# The loader next to compute: training defaults (1 worker, nice +5) while every core runs a
# busy compute thread, consumed at the trainer's pace (images/s from docs/PLATFORM.md §4's PyTorch
# figures, rounded up): how long the trainer waits, and how much compute the loader takes.
"$WORK/bench_data" contention fmnist "$FMNIST/train" "$SECONDS_PER" 50
"$WORK/bench_data" contention tiny224 "$WORK/jpeg224" "$SECONDS_PER" 8
