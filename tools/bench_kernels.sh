#!/bin/sh
# tools/bench_kernels.sh — builds tools/bench_kernels.c against the kernel sources (same
# flags as Package.swift's CDinoKernels target) and prints per-op timings for 1 and 2
# threads on ViT-Tiny shapes. Usage: tools/bench_kernels.sh [name filter]
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
out=${TMPDIR:-/tmp}/dino_bench_kernels
mkdir -p "$out.o"
# Compile with -fopenmp, link without it (it would ask for -lomp; Debian names it omp5).
for f in "$root"/Sources/CDinoKernels/*.c "$root/Sources/CDinoOps/dino_ops.c" \
         "$root/tools/bench_kernels.c"; do
  clang -c -std=c11 -O3 -march=native -ffp-contract=fast -fopenmp \
    -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include \
    -I"$root/Sources/CDinoKernels/include" -I"$root/Sources/CDinoKernels" \
    -I"$root/Sources/CDinoOps/include" "$f" -o "$out.o/$(basename "$f").o"
done
clang "$out.o"/*.o -o "$out" -lopenblas -lomp5 -lm
exec "$out" "$@"
