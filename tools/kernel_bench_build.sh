# tools/kernel_bench_build.sh — sourced by the kernel benchmarks (bench_gemm.sh,
# bench_kernels.sh, bench_attention.sh), after they set `root` to the repository.
# `kernel_bench_build OUT FILE…` compiles each C file with Package.swift's CDinoKernels
# flags (plus $KERNEL_BENCH_CFLAGS; the omp.h folder is Debian's libomp-dev, docs/MACHINE.md)
# into OUT.o/ and links every object there into the program OUT.
kernel_bench_build() {
  out=$1
  shift
  mkdir -p "$out.o"
  # Compile with -fopenmp, link without it (it would ask for -lomp; Debian names it omp5).
  for f in "$@"; do
    clang -c -std=c11 -O3 -march=native -ffp-contract=fast -fopenmp $KERNEL_BENCH_CFLAGS \
      -idirafter /usr/lib/llvm-14/lib/clang/14.0.6/include \
      -I"$root/Sources/CDinoKernels/include" -I"$root/Sources/CDinoKernels" \
      -I"$root/Sources/CDinoOps/include" "$f" -o "$out.o/$(basename "$f").o"
  done
  clang "$out.o"/*.o -o "$out" -lopenblas -lomp5 -lm
}
