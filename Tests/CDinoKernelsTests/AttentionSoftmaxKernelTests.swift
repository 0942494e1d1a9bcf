import CDinoKernels
import DinoIR
import XCTest
import _DinoTestSupport

/// The attention kernels' softmax in vectors (row blocks of 16 queries, exp and log on
/// whole vectors, masked last vectors): scores spread far wider than exp's range (weights
/// that underflow to 0, in whole and in last vectors) against the Double oracle, both paths
/// bitwise alike; a NaN or an infinity in qkv reaches only the rows that read it.
final class AttentionSoftmaxKernelTests: XCTestCase {
  /// (images, tokens, heads, head width): several 16-query blocks and a partial one, a last
  /// vector of 1–15 keys, the padded tiles (hd 5).
  private let shapes = [
    (1, 197, 3, 64), (2, 50, 3, 64), (3, 10, 3, 64), (2, 33, 2, 16),
    (1, 23, 2, 5),
  ]

  private func bits(_ v: [Float]) -> [UInt32] { AttentionKernelChecks.bits(v) }

  /// `c` with its qkv operand's q and k parts times `factor` (v as drawn); a backward case
  /// gets the oracle's out and lse of the new qkv.
  private func widened(_ c: KernelCase, heads: Int, factor: Float) -> KernelCase {
    var c = c
    let slot = c.op == .attention ? 0 : 1
    let width = c.shapes[slot][2], vStart = 2 * width / 3
    for i in c.data[slot].indices where i % width < vStart { c.data[slot][i] *= factor }
    if c.op == .attentionBwd {
      let (out, lse) = ReferenceInterpreter.attention(
        ReferenceTensor(shape: c.shapes[1], floats: c.data[1]), heads: heads,
        scale: Double(c.fattr[0]))
      c.data[2] = out.floats
      c.data[3] = lse.floats
    }
    return c
  }

  func testScoresWiderThanExpsRangeMatchTheOracle() throws {
    var rng = TestRNG(seed: 4_301)
    defer { dino_attention_use_tiles(0) }
    for op in [OpKind.attention, .attentionBwd] {
      for s in shapes {
        // q and k in [-12, 12): scale · q · k spans hundreds, so most weights underflow. A
        // score of ~100 carries a rounding of ~1e-5 (its ulp and the dot product's), so the
        // weights and the results carry ~1e-5 relative: the tolerance is ten times the
        // other tests' (a weight zeroed or a masked lane summed would be off by far more).
        let c = widened(
          attentionCase(op, batch: s.0, tokens: s.1, heads: s.2, headDim: s.3, rng: &rng),
          heads: s.2, factor: 12)
        let want = try referenceRun(c)
        let largest = want.out.map(abs).max() ?? 0
        dino_attention_use_tiles(0)
        let picked = try runKernel(c, threads: 2)
        dino_attention_use_tiles(1)
        let tiles = try runKernel(c, threads: 1)
        let what = "\(op) B=\(s.0) N=\(s.1) heads=\(s.2) hd=\(s.3)"
        let bad = mismatches(picked.out, want.out, atol: 1e-4 * max(1, largest), rtol: 1e-3)
        XCTAssert(bad.isEmpty, "\(what): \(bad)")
        if op == .attention {
          let badLse = mismatches(picked.extras[0], want.extras[0], atol: 1e-5, rtol: 1e-5)
          XCTAssert(badLse.isEmpty, "\(what) lse: \(badLse)")
          XCTAssertEqual(bits(picked.extras[0]), bits(tiles.extras[0]), "\(what): lse paths")
        }
        XCTAssertEqual(bits(picked.out), bits(tiles.out), "\(what): both paths")
      }
    }
  }

  /// A NaN in one key of (image 0, head 1) makes that pair's every row NaN (out and lse)
  /// and nothing else; an infinite query element of (image 1, row 14, every head) makes
  /// that row NaN and nothing else (its scores hold ±∞, so the row's max is ∞); the first 12
  /// queries alone (`queries`) are bitwise the whole attention's rows, though row 14 shares
  /// their block of 16 there (its log-sum-exp is logf's, theirs the vector log's).
  func testNonFiniteInputsReachOnlyTheirRows() throws {
    var rng = TestRNG(seed: 4_302)
    let (b, n, heads, hd) = (2, 37, 3, 64)
    let c0 = attentionCase(.attention, batch: b, tokens: n, heads: heads, headDim: hd, rng: &rng)
    let want = try referenceRun(c0)
    var c = c0
    let width = 3 * heads * hd, dim = heads * hd
    c.data[0][(0 * n + 5) * width + dim + 1 * hd + 7] = .nan
    for h in 0..<heads { c.data[0][(1 * n + 14) * width + h * hd + 2] = .infinity }
    for threads in [1, 2] {
      let got = try runKernel(c, threads: threads)
      for bi in 0..<b {
        for h in 0..<heads {
          for i in 0..<n {
            let poisoned = (bi == 0 && h == 1) || (bi == 1 && i == 14)
            let l = (bi * heads + h) * n + i
            let row = (0..<hd).map { got.out[(bi * n + i) * dim + h * hd + $0] }
            let place = "threads \(threads) image \(bi) head \(h) row \(i)"
            if poisoned {
              XCTAssert(got.extras[0][l].isNaN, "\(place): lse \(got.extras[0][l])")
              XCTAssert(row.allSatisfy(\.isNaN), "\(place): out \(row)")
            } else {
              let wantRow = (0..<hd).map { want.out[(bi * n + i) * dim + h * hd + $0] }
              XCTAssert(mismatches(row, wantRow, atol: 1e-5, rtol: 1e-4).isEmpty, place)
              XCTAssertEqual(got.extras[0][l], want.extras[0][l], accuracy: 1e-5, place)
            }
          }
        }
      }
      var prefix = c
      let q = 12
      prefix.iattr[1] = Int64(q)
      prefix.out = [b, q, dim]
      prefix.extraOuts = [[b, heads, q]]
      let first = try runKernel(prefix, threads: threads)
      AttentionKernelChecks.assertPrefixIsWholeRows(
        first, got, images: b, tokens: n, queries: q, heads: heads, dim: dim,
        "threads \(threads)")
    }
  }
}
