#!/bin/sh
# tools/bench_gemm.sh — builds tools/bench_gemm.c against the kernel sources (same flags as
# Package.swift's CDinoKernels target) and prints, per GEMM shape of the fmnist and tiny224
# plans, GFLOP/s on OpenBLAS and on the tiled GEMM (cold caches) and which one the shape
# choice takes. Usage:
#   tools/bench_gemm.sh [threads (2)] [name filters ("fc1|proj")] [runs (7)] [cpu]
# ("cpu": CPU time instead of wall time, for 1 thread on a busy machine)
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
out=${TMPDIR:-/tmp}/dino_bench_gemm
. "$root/tools/kernel_bench_build.sh"
kernel_bench_build "$out" "$root"/Sources/CDinoKernels/*.c "$root/Sources/CDinoOps/dino_ops.c" \
  "$root/tools/bench_gemm.c"
exec "$out" "$@"
