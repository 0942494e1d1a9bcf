import CDinoKernels
import XCTest
import _DinoTestSupport

/// The weight-normalised linear layer's paths for up to 96 rows of x (linear_weight_norm.c):
/// the forward on skinny panels with xᵀ as 1–6 vectors of lanes (gemm_skinny.c, results
/// written through 16 × 16 transposes and a scalar tail), the backward on 14 × 32 register
/// tiles (lwn_tiles.c, then 16-column tiles and single columns, row panels of 1–14). Odd
/// shapes against the Double oracle, with and without dg, and bitwise the same at 1 and 2
/// threads; 97 rows take the sgemm path and meet the oracle too.
final class LinearWeightNormTileTests: XCTestCase {
  /// (M, N, K): every lane count (M 1 … 96) and the first sgemm one (97); row tails of the
  /// panels and of the 14-row tiles (M 13, 15, 29, 47), N not a multiple of 16 nor of the
  /// register tiles; K below 16 (single columns only), 48 (a 32- and a 16-column tile),
  /// 37 and 70 (both and a tail); several blocks of v (K = 256: 128 rows a block) and
  /// chunks of several blocks (K = 1000: 32 rows a block, 19 blocks in 16 chunks).
  private let shapes: [(Int, Int, Int)] = [
    (1, 1000, 37), (13, 531, 70), (15, 129, 48), (29, 300, 5), (33, 257, 48), (47, 333, 100),
    (65, 200, 19), (80, 700, 256), (96, 150, 37), (97, 150, 40), (14, 600, 1000),
  ]

  func testFewRowsMatchTheOracleAndAreTheSameAtOneAndTwoThreads() throws {
    var rng = TestRNG(seed: 96)
    for (m, n, k) in shapes {
      for gradG in [nil, false, true] as [Bool?] {
        let c = KernelCase.linearWeightNorm(m, n, k, backward: gradG, &rng)
        let label = "\(m)×\(n)×\(k) \(gradG.map { "bwd grad_g=\($0)" } ?? "fwd")"
        let one = try runKernel(c, threads: 1), two = try runKernel(c, threads: 2)
        XCTAssertEqual(one.resultBits, two.resultBits, "\(label): 1 and 2 threads differ")
        let want = try referenceRun(c)
        XCTAssertEqual(two.extras.count, want.extras.count, label)
        let got = [two.out] + two.extras, exact = [want.out] + want.extras
        for (index, name) in ["out", "dv", "dg"].prefix(got.count).enumerated() {
          let bad = mismatches(got[index], exact[index], atol: 2e-5, rtol: 1e-4)
          XCTAssert(bad.isEmpty, "\(label) \(name): \(bad.prefix(3))")
        }
      }
    }
  }
}
