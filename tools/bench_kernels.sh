#!/bin/sh
# tools/bench_kernels.sh — builds tools/bench_kernels.c against the kernel sources (same
# flags as Package.swift's CDinoKernels target) and prints per-op timings for 1 and 2
# threads on ViT-Tiny shapes. Usage: tools/bench_kernels.sh [name filter]
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
out=${TMPDIR:-/tmp}/dino_bench_kernels
. "$root/tools/kernel_bench_build.sh"
kernel_bench_build "$out" "$root"/Sources/CDinoKernels/*.c "$root/Sources/CDinoOps/dino_ops.c" \
  "$root/tools/bench_kernels.c"
exec "$out" "$@"
