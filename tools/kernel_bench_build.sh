# tools/kernel_bench_build.sh — sourced by the kernel benchmarks (bench_gemm.sh,
# bench_kernels.sh, bench_attention.sh), after they set `root` to the repository.
# `kernel_bench_build OUT FILE…` compiles each C file with Package.swift's CDinoKernels
# flags (plus $KERNEL_BENCH_CFLAGS) into OUT.o/ and links every object there into the
# program OUT. LLVM's omp.h comes from $OMP_INCLUDE, else from the folder where the
# installed libomp-dev package put it (dpkg; the build recipe: docs/PLATFORM.md).

# The folder of LLVM's omp.h: $OMP_INCLUDE, else the installed libomp package's.
kernel_bench_omp_include() {
  if [ -n "${OMP_INCLUDE:-}" ]; then
    echo "$OMP_INCLUDE"
    return
  fi
  header=$(dpkg -S 'include/omp.h' 2>/dev/null | awk -F': ' '/^libomp/ { print $2; exit }')
  if [ -z "$header" ]; then
    echo "kernel_bench_build.sh: error: LLVM's omp.h not found (no libomp-dev installed);" \
      "install it (tools/install-packages.sh) or set OMP_INCLUDE to the folder of omp.h" >&2
    return 1
  fi
  dirname "$header"
}

kernel_bench_build() {
  out=$1
  shift
  omp_include=$(kernel_bench_omp_include) || return 1
  mkdir -p "$out.o"
  # Compile with -fopenmp, link without it (it would ask for -lomp; Debian names it omp5).
  for f in "$@"; do
    clang -c -std=c11 -O3 -march=native -ffp-contract=fast -fopenmp $KERNEL_BENCH_CFLAGS \
      -idirafter "$omp_include" \
      -I"$root/Sources/CDinoKernels/include" -I"$root/Sources/CDinoKernels" \
      -I"$root/Sources/CDinoOps/include" "$f" -o "$out.o/$(basename "$f").o"
  done
  clang "$out.o"/*.o -o "$out" -lopenblas -lomp5 -lm
}
