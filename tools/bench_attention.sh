#!/bin/sh
# tools/bench_attention.sh — times the attention kernels of a base revision (default 701e697,
# main before the forward's row blocks; any revision whose kernels save lse and take a query
# count) against this tree's in one process, alternating
# (tools/bench_attention.c: busiest thread's CPU time, best of ROUNDS), same flags as
# Package.swift's CDinoKernels target. Usage: [BASE=rev] tools/bench_attention.sh [rounds]
# Run with KMP_BLOCKTIME=0 (set here) so that idle pool threads sleep instead of spinning.
set -e
root=$(cd "$(dirname "$0")/.." && pwd)
base=${BASE:-701e697}
out=${TMPDIR:-/tmp}/dino_bench_attention_$(id -u)
mkdir -p "$out.o"
git -C "$root" show "$base:Sources/CDinoKernels/attention.c" > "$out.o/base_attention.c"
# The base's own tiles header, found first (beside base_attention.c).
git -C "$root" show "$base:Sources/CDinoKernels/attention_tiles.h" > "$out.o/attention_tiles.h"
cat > "$out.o/base.c" <<'C'
#define dino_run_attention base_dino_run_attention
#define dino_run_attention_bwd base_dino_run_attention_bwd
#define dino_scratch_attention base_dino_scratch_attention
#define dino_scratch_attention_bwd base_dino_scratch_attention_bwd
#define dino_attention_use_tiles base_dino_attention_use_tiles
#include "base_attention.c"
size_t m_scratch(int64_t b, int n, int c, int heads) {
    return dino_attention_scratch_bytes(b, n, c, heads);
}
void m_fwd(float *out, float *lse, float *scratch, const float *qkv, int64_t b, int n, int c,
           int heads, float scale) {
    dino_attention_fwd(out, lse, scratch, qkv, b, n, n, c, heads, scale);
}
void m_bwd(float *dqkv, float *scratch, const float *dy, const float *qkv, const float *out,
           const float *lse, int64_t b, int n, int c, int heads, float scale) {
    dino_attention_bwd(dqkv, scratch, dy, qkv, out, lse, b, n, n, c, heads, scale);
}
C
cat > "$out.o/this.c" <<'C'
#include "attention.c"
size_t f_scratch(int64_t b, int n, int c, int heads) {
    return dino_attention_scratch_bytes(b, n, c, heads);
}
void f_fwd(float *out, float *lse, float *scratch, const float *qkv, int64_t b, int n, int c,
           int heads, float scale) {
    dino_attention_fwd(out, lse, scratch, qkv, b, n, n, c, heads, scale);
}
void f_bwd(float *dqkv, float *scratch, const float *dy, const float *qkv, const float *out,
           const float *lse, int64_t b, int n, int c, int heads, float scale) {
    dino_attention_bwd(dqkv, scratch, dy, qkv, out, lse, b, n, n, c, heads, scale);
}
C
. "$root/tools/kernel_bench_build.sh"
KERNEL_BENCH_CFLAGS="-std=gnu11 -w" kernel_bench_build "$out" "$out.o/base.c" "$out.o/this.c" \
  "$root/Sources/CDinoKernels/threads.c" "$root/tools/bench_attention.c"
KMP_BLOCKTIME=0 exec nice -n 10 "$out" "$@"
