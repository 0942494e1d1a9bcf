import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// The `fuse` pass on an attention whose queries are cut to their first Q tokens (what the
/// `narrow` pass leaves of a ViT's last block: Q = 1, the class token): it becomes
/// `attention {queries=Q}` and `attention_bwd {queries=Q}`, which compute what the unfused
/// graph computes (within rounding: FusedAttentionTests) at 1 and 2 threads, bitwise the
/// same at both; a cut that does not start at token 0 stays unfused.
final class FusedAttentionPrefixTests: XCTestCase {
  /// (images, tokens, queries, heads, head width).
  private let shapes = [(2, 7, 1, 3, 5), (3, 13, 4, 3, 16), (2, 37, 1, 3, 21), (1, 9, 8, 1, 7)]

  func testAQueryPrefixFusesForwardAndBackward() throws {
    for q in [1, 3] {
      let fused = try Pipeline.run(
        try FusedAttentionTests.graph(batch: 2, tokens: 7, heads: 3, headDim: 5, queries: q))
      let program = try XCTUnwrap(fused.program("gradients"))
      let ops = program.nodes.map(\.op)
      for gone in [OpKind.softmax, .softmaxBwd, .permute, .slice, .pad, .scale] {
        XCTAssertFalse(ops.contains(gone), "Q=\(q): \(gone) is left")
      }
      let forward = try XCTUnwrap(program.nodes.firstIndex { $0.op == .attention })
      XCTAssertEqual(program.nodes[forward].attrs.int("queries"), q)
      XCTAssertEqual(program.nodes[forward].type.shape, [2, q, 15])
      XCTAssertEqual(program.nodes[forward + 1].type.shape, [2, 3, q], "the rows' lse")
      let backward = try XCTUnwrap(program.nodes.first { $0.op == .attentionBwd })
      XCTAssertEqual(backward.attrs.int("queries"), q)
      XCTAssertEqual(backward.type.shape, [2, 7, 45], "d(qkv) has every token's row")
    }
  }

  func testAQueryPrefixMatchesTheUnfusedGraphWithOneAndTwoThreads() throws {
    for (b, n, q, h, hd) in shapes {
      let graph = try FusedAttentionTests.graph(
        batch: b, tokens: n, heads: h, headDim: hd, queries: q)
      let fused = try Pipeline.run(graph), unfused = try Pipeline.run(graph, fusing: false)
      XCTAssertTrue(fused.programs[0].nodes.contains { $0.op == .attentionBwd })
      XCTAssertTrue(unfused.programs[0].nodes.contains { $0.op == .softmaxBwd })
      let x = randomFloats(b * n * h * hd, seed: 51, scale: 1.5)
      let target = randomFloats(b * q * h * hd, seed: 52, scale: 1)
      try FusedAttentionTests.assertFusedMatchesUnfused(
        fused, unfused, x: x, target: target, label: "B=\(b) N=\(n) Q=\(q) heads=\(h) hd=\(hd)")
    }
  }

  func testOtherCutsStayUnfused() throws {
    let late = try Pipeline.run(
      try FusedAttentionTests.graph(
        batch: 2, tokens: 7, heads: 3, headDim: 5, queries: 2, queryStart: 1))
    XCTAssertFalse(late.programs[0].nodes.contains { $0.op == .attention }, "start 1")
    XCTAssertTrue(late.programs[0].nodes.contains { $0.op == .softmaxBwd })
    // Keys and values cut with the queries: `narrow` moves the cut up to qkv, so this is
    // the whole attention of the first 3 tokens (queries = its token count).
    let keys = try Pipeline.run(
      try FusedAttentionTests.graph(
        batch: 2, tokens: 7, heads: 3, headDim: 5, queries: 3, cutKeys: true))
    let whole = try XCTUnwrap(keys.programs[0].nodes.first { $0.op == .attention })
    XCTAssertEqual(keys.programs[0][whole.operands[0]].type.shape, [2, 3, 45])
    XCTAssertEqual(whole.attrs.int("queries"), 3)
  }
}
