#!/bin/sh
# tools/bench_lwn.sh — builds tools/bench_lwn.c against the kernel sources (same flags as
# Package.swift's CDinoKernels target) plus linear_weight_norm.c and gemm_skinny.c of a base
# commit (renamed old_*), and prints old against new per shape (tiny224 and fmnist heads) at
# 1 and 2 threads, alternating runs. Usage: tools/bench_lwn.sh [base (main)] [filter] [runs (9)]
# [cpu] ("cpu": 1 thread timed in CPU seconds, for a busy machine)
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
base=${1:-main}
[ $# -gt 0 ] && shift
out=${TMPDIR:-/tmp}/dino_bench_lwn
old=$out.old
rm -rf "$out.o" "$old"
mkdir -p "$old"
# The base's two files with the headers they were written against, in one translation unit
# whose public symbols are renamed, so both versions link into one program.
for f in linear_weight_norm.c gemm_skinny.c internal.h shim.h; do
  git -C "$root" show "$base:Sources/CDinoKernels/$f" > "$old/$f"
done
cat > "$old/old_lwn.c" <<'C'
#define dino_run_linear_weight_norm old_run_linear_weight_norm
#define dino_run_linear_weight_norm_bwd old_run_linear_weight_norm_bwd
#define dino_scratch_linear_weight_norm_bwd old_scratch_linear_weight_norm_bwd
#define dino_gemm_skinny_block old_gemm_skinny_block
#define dino_gemm_is_skinny old_gemm_is_skinny
#include "linear_weight_norm.c"
#include "gemm_skinny.c"
C
. "$root/tools/kernel_bench_build.sh"
kernel_bench_build "$out" "$old/old_lwn.c" "$root"/Sources/CDinoKernels/*.c \
  "$root/Sources/CDinoOps/dino_ops.c" "$root/tools/bench_lwn.c"
exec "$out" "$@"
