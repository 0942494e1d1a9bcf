import CDinoKernels
import XCTest
import _DinoTestSupport

/// The skinny GEMM (gemm_skinny.c): C = A·Bᵀ with A of at most 32 rows, B of at least 4096
/// and at most 512 columns, as `matmul {trans_b=1}` and `linear` run it, on odd shapes (M
/// 1…33, K not a multiple of 16, N not a multiple of 8): against the Double oracle, against
/// its documented summation order (each element fused multiply-adds over k in order), and at
/// 1 and 2 threads bitwise (each element is one dot product, whichever thread computes it).
/// Shapes past the bounds (33 rows, 520 columns) take sgemm and meet the oracle only.
final class SkinnyGemmTests: XCTestCase {
  /// (M, N, K): both sides of the 32-row and 512-column bounds, K below, at and above 16s.
  private let shapes = [
    (1, 4096, 5), (2, 4099, 37), (7, 4103, 16), (16, 4111, 263), (31, 4097, 33), (32, 4105, 70),
    (33, 4096, 21), (17, 4101, 512), (5, 4096, 520),
  ]

  /// Σ a[p]·b[p] in the skinny kernel's order: one fused multiply-add after another.
  private func dotInKernelOrder(_ a: ArraySlice<Float>, _ b: ArraySlice<Float>) -> Float {
    var acc: Float = 0
    for (x, y) in zip(a, b) { acc.addProduct(x, y) }
    return acc
  }

  func testSkinnyMatmulMatchesTheOracleAndItsOrder() throws {
    var rng = TestRNG(seed: 9_101)
    for (m, n, k) in shapes {
      let c = KernelCase(.matmul, [[m, k], [n, k]], out: [m, n], iattr: [0, 1], rng: &rng)
      let (a, b) = (c.data[0], c.data[1])
      let one = try runKernel(c, threads: 1).out
      let two = try runKernel(c, threads: 2).out
      XCTAssertEqual(one.map(\.bitPattern), two.map(\.bitPattern), "\(m)x\(n)x\(k): 1 vs 2 threads")
      // Every 13th column and the last 9 (the tail of the 8-row blocks): the Swift loops are
      // slow in debug builds.
      let columns = Array(stride(from: 0, to: n, by: 13)) + Array(n - 9..<n)
      var worst = 0.0
      var inOrder = 0
      for i in 0..<m {
        for j in columns {
          let (rowA, rowB) = (a[i * k..<(i + 1) * k], b[j * k..<(j + 1) * k])
          let exact = zip(rowA, rowB).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
          let got = one[i * n + j]
          worst = max(worst, abs(Double(got) - exact) / max(1, abs(exact)))
          if got.bitPattern == dotInKernelOrder(rowA, rowB).bitPattern { inOrder += 1 }
        }
      }
      XCTAssertLessThan(worst, 1e-5, "\(m)x\(n)x\(k): against the Double oracle")
      if m <= 32 && k <= 512 {
        XCTAssertEqual(
          inOrder, m * columns.count, "\(m)x\(n)x\(k): every element in the kernel's order")
      }
    }
  }

  func testSkinnyLinearAddsItsBiasAfterTheDotProducts() throws {
    var rng = TestRNG(seed: 9_102)
    for (m, n, k) in shapes where m <= 32 && k <= 512 {
      let linear = KernelCase(.linear, [[m, k], [n, k], [n]], out: [m, n], rng: &rng)
      var matmul = KernelCase(.matmul, [[m, k], [n, k]], out: [m, n], iattr: [0, 1], rng: &rng)
      matmul.data = Array(linear.data.prefix(2))
      for threads in [1, 2] {
        let product = try runKernel(matmul, threads: threads).out
        let got = try runKernel(linear, threads: threads).out
        let bias = linear.data[2]
        let expected = product.enumerated().map { $1 + bias[$0 % n] }
        XCTAssertEqual(got.map(\.bitPattern), expected.map(\.bitPattern), "\(m)x\(n)x\(k)")
      }
    }
  }
}
