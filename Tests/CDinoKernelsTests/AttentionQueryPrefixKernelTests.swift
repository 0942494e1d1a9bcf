import CDinoKernels
import DinoIR
import XCTest
import _DinoTestSupport

/// The attention kernels on a prefix of the queries (`queries` Q < N: the class token of a
/// ViT's last block after the `narrow` pass, and prefixes in between): forward and backward
/// against the Double oracle, 1 and 2 threads bitwise, both paths (direct and padded tiles)
/// bitwise alike; the forward's rows bitwise the whole attention's first Q rows, the
/// backward's dq rows past Q exactly zero.
final class AttentionQueryPrefixKernelTests: XCTestCase {
  /// (images, tokens, queries, heads, head width): the ViT configs' N = 10, 50, 197 with
  /// Q = 1, a prefix in between and Q = N; head widths 16-multiple (direct path) and not.
  private let shapes = [
    (3, 10, 1, 3, 64), (2, 10, 7, 2, 5), (2, 10, 10, 1, 33), (4, 50, 1, 3, 64),
    (2, 50, 9, 3, 16), (1, 50, 50, 2, 21), (1, 197, 1, 3, 64), (1, 197, 17, 1, 48),
    (2, 197, 1, 2, 13), (2, 1, 1, 1, 16),
  ]

  private func label(_ s: (Int, Int, Int, Int, Int)) -> String {
    "B=\(s.0) N=\(s.1) Q=\(s.2) heads=\(s.3) hd=\(s.4)"
  }

  private func prefixCase(_ op: OpKind, _ s: (Int, Int, Int, Int, Int), _ rng: inout TestRNG)
    -> KernelCase
  {
    attentionCase(
      op, batch: s.0, tokens: s.1, queries: s.2, heads: s.3, headDim: s.4, rng: &rng)
  }

  func testForwardAndBackwardMatchTheOracleOnBothPathsAndAnyThreadCount() throws {
    var rng = TestRNG(seed: 4_301)
    for op in [OpKind.attention, .attentionBwd] {
      for s in shapes {
        let what = "\(op) \(label(s))"
        let one = try AttentionKernelChecks.assertPathsAgree(prefixCase(op, s, &rng), what)
        if op == .attention { XCTAssertEqual(one.out.count, s.0 * s.2 * s.3 * s.4, what) }
      }
    }
  }

  /// Each row of a prefix is the whole attention's row, bit for bit (rows are independent
  /// and summed in the same order), and so is its log-sum-exp.
  func testThePrefixIsTheWholeAttentionsFirstRowsBitwise() throws {
    var rng = TestRNG(seed: 4_302)
    for s in shapes where s.2 < s.1 {
      let prefix = prefixCase(.attention, s, &rng)
      var whole = attentionCase(
        .attention, batch: s.0, tokens: s.1, heads: s.3, headDim: s.4, rng: &rng)
      whole.data[0] = prefix.data[0]
      let got = try runKernel(prefix, threads: 2), all = try runKernel(whole, threads: 2)
      AttentionKernelChecks.assertPrefixIsWholeRows(
        got, all, images: s.0, tokens: s.1, queries: s.2, heads: s.3, dim: s.3 * s.4, label(s))
    }
  }

  /// dq is zero past the first Q rows (whatever the buffer held before), dk and dv are not.
  func testTheBackwardZeroesTheGradientOfTheQueriesItDidNotCompute() throws {
    var rng = TestRNG(seed: 4_303)
    for s in shapes where s.2 < s.1 {
      let c = prefixCase(.attentionBwd, s, &rng)
      let dqkv = try runKernel(c, threads: 2).out
      let (n, q, width) = (s.1, s.2, s.3 * s.4)
      for bi in 0..<s.0 {
        for row in 0..<n {
          let base = (bi * n + row) * 3 * width
          let dq = dqkv[base..<(base + width)], dkv = dqkv[(base + width)..<(base + 3 * width)]
          if row >= q {
            XCTAssert(dq.allSatisfy { $0.bitPattern == 0 }, "\(label(s)) dq row \(row)")
          }
          XCTAssert(dkv.contains { $0 != 0 }, "\(label(s)) dk, dv row \(row)")
        }
      }
    }
  }

  /// The oracle's backward of a prefix is the derivative of its forward: central
  /// differences of Σ dy ⊙ attention(qkv) (Q rows) per element of qkv; the kernel agrees.
  func testThePrefixBackwardIsTheForwardsDerivative() throws {
    var rng = TestRNG(seed: 4_304)
    let (b, n, q, heads, hd) = (2, 6, 2, 2, 3)
    let c = attentionCase(
      .attentionBwd, batch: b, tokens: n, queries: q, heads: heads, headDim: hd, rng: &rng)
    try AttentionKernelChecks.assertBackwardIsForwardsDerivative(
      c, images: b, tokens: n, queries: q, heads: heads, headDim: hd)
  }
}
