#!/bin/sh
# tools/bench_gemm.sh — builds tools/bench_gemm.c against the kernel sources (same flags as
# Package.swift's CDinoKernels target) and prints, per GEMM shape of the fmnist and tiny224
# plans, GFLOP/s on OpenBLAS and on the tiled GEMM (cold caches) and which one the shape
# choice takes. Usage: tools/bench_gemm.sh [threads (2)] [name filter] [runs (7)] [cpu]
# ("cpu": CPU time instead of wall time, for 1 thread on a busy machine)
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
out=${TMPDIR:-/tmp}/dino_bench_gemm
mkdir -p "$out.o"
# Compile with -fopenmp, link without it (it would ask for -lomp; Debian names it omp5).
for f in "$root"/Sources/CDinoKernels/*.c "$root/Sources/CDinoOps/dino_ops.c" \
         "$root/tools/bench_gemm.c"; do
  clang -c -std=c11 -O3 -march=native -ffp-contract=fast -fopenmp \
    -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include \
    -I"$root/Sources/CDinoKernels/include" -I"$root/Sources/CDinoKernels" \
    -I"$root/Sources/CDinoOps/include" "$f" -o "$out.o/$(basename "$f").o"
done
clang "$out.o"/*.o -o "$out" -lopenblas -lomp5 -lm
exec "$out" "$@"
