import CDinoKernels
import DinoIR
import XCTest
import _DinoTestSupport

/// The attention kernels (attention.c on attention_tiles.h): `attention` (output and each
/// softmax row's log-sum-exp) and `attention_bwd` (the softmax rows recomputed from lse)
/// against the Double oracle on odd shapes (tokens 1 to 197, 1 to 3 heads, head widths 16
/// to 64 and ones that are no multiple of 16), 1 and 2 threads bitwise, both paths (direct
/// and padded tiles) on every shape, and the oracle's backward against finite differences
/// of its forward.
final class AttentionKernelTests: XCTestCase {
  /// (images, tokens, heads, head width): the ViT configs' N = 197, 50, 37, 10 and edges.
  private let shapes = [
    (2, 1, 1, 16), (3, 7, 2, 16), (2, 37, 3, 64), (4, 50, 3, 64), (1, 197, 3, 64),
    (2, 10, 3, 64), (1, 23, 2, 5), (2, 9, 1, 33), (2, 20, 2, 32), (1, 67, 1, 48),
  ]

  private func label(_ s: (Int, Int, Int, Int)) -> String {
    "B=\(s.0) N=\(s.1) heads=\(s.2) hd=\(s.3)"
  }

  private func assertBitwise(_ x: KernelRun, _ y: KernelRun, _ what: String) {
    AttentionKernelChecks.assertBitwise(x, y, what)
  }

  func testForwardMatchesTheOracleAndIsBitwiseAcrossThreads() throws {
    var rng = TestRNG(seed: 4_201)
    for s in shapes {
      let c = attentionCase(
        .attention, batch: s.0, tokens: s.1, heads: s.2, headDim: s.3, rng: &rng)
      let want = try referenceRun(c)
      let one = try runKernel(c, threads: 1), two = try runKernel(c, threads: 2)
      XCTAssertEqual(one.extras.count, 1)
      let bad = mismatches(one.out, want.out, atol: 1e-5, rtol: 1e-4)
      XCTAssert(bad.isEmpty, "\(label(s)) out: \(bad)")
      let badLse = mismatches(one.extras[0], want.extras[0], atol: 1e-5, rtol: 1e-5)
      XCTAssert(badLse.isEmpty, "\(label(s)) lse: \(badLse)")
      assertBitwise(one, two, "\(label(s)): 1 and 2 threads")
      assertBitwise(two, try runKernel(c, threads: 2), "\(label(s)): two 2-thread runs")
    }
  }

  func testBackwardMatchesTheOracleAndIsBitwiseAcrossThreads() throws {
    var rng = TestRNG(seed: 4_202)
    for s in shapes {
      let c = attentionCase(
        .attentionBwd, batch: s.0, tokens: s.1, heads: s.2, headDim: s.3, rng: &rng)
      let want = try referenceRun(c)
      let one = try runKernel(c, threads: 1), two = try runKernel(c, threads: 2)
      let bad = mismatches(one.out, want.out, atol: 1e-5, rtol: 1e-4)
      XCTAssert(bad.isEmpty, "\(label(s)) dqkv: \(bad)")
      assertBitwise(one, two, "\(label(s)): 1 and 2 threads")
    }
  }

  /// Every shape forced onto the padded tiles (the path of head widths that are no multiple
  /// of 16) matches the oracle, is bitwise the same on 1 and 2 threads, and bitwise the same
  /// as the path the shape picks (direct for head widths 16, 32, 48, 64).
  func testBothPathsMatchTheOracleAndEachOtherBitwise() throws {
    var rng = TestRNG(seed: 4_205)
    for op in [OpKind.attention, .attentionBwd] {
      for s in shapes {
        let c = attentionCase(op, batch: s.0, tokens: s.1, heads: s.2, headDim: s.3, rng: &rng)
        try AttentionKernelChecks.assertPathsAgree(c, "\(op) \(label(s))")
      }
    }
  }

  /// The forward's lse rebuilds its softmax rows: Σ_j exp(scale·q_i·k_j − lse_i) = 1.
  func testLseNormalisesEachRow() throws {
    var rng = TestRNG(seed: 4_203)
    let (b, n, heads, hd) = (2, 13, 3, 16)
    let c = attentionCase(.attention, batch: b, tokens: n, heads: heads, headDim: hd, rng: &rng)
    let lse = try runKernel(c, threads: 2).extras[0]
    let qkv = c.data[0], width = 3 * heads * hd
    for bi in 0..<b {
      for h in 0..<heads {
        for i in 0..<n {
          var total = 0.0
          for j in 0..<n {
            var dot = 0.0
            for d in 0..<hd {
              dot += Double(qkv[(bi * n + i) * width + h * hd + d])
                * Double(qkv[(bi * n + j) * width + heads * hd + h * hd + d])
            }
            total += exp(dot / Double(hd).squareRoot() - Double(lse[(bi * heads + h) * n + i]))
          }
          XCTAssertEqual(total, 1, accuracy: 1e-5, "image \(bi) head \(h) row \(i)")
        }
      }
    }
  }

  /// The oracle's backward is the derivative of its forward: central differences of
  /// Σ dy ⊙ attention(qkv) per element of qkv; the kernel agrees with both.
  func testBackwardIsTheForwardsDerivative() throws {
    var rng = TestRNG(seed: 4_204)
    let (b, n, heads, hd) = (2, 5, 2, 3)
    let c = attentionCase(.attentionBwd, batch: b, tokens: n, heads: heads, headDim: hd, rng: &rng)
    try AttentionKernelChecks.assertBackwardIsForwardsDerivative(
      c, images: b, tokens: n, heads: heads, headDim: hd)
  }
}
