import CDinoKernels
import DinoIR
import XCTest
import _DinoTestSupport

/// What the attention kernel tests share: bitwise comparisons of runs, the two paths
/// (direct and padded tiles) against the oracle and each other, and a query prefix against
/// the whole attention's first rows.
enum AttentionKernelChecks {
  /// The bit patterns of `v`.
  static func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }

  /// `x` and `y` are the same bits, output and lse.
  static func assertBitwise(
    _ x: KernelRun, _ y: KernelRun, _ what: String, file: StaticString = #filePath,
    line: UInt = #line
  ) {
    XCTAssertEqual(bits(x.out), bits(y.out), what, file: file, line: line)
    XCTAssertEqual(x.extras.map(bits), y.extras.map(bits), "\(what): lse", file: file, line: line)
  }

  /// Case `c` on the path its shape picks at 1 and 2 threads and on the padded tiles at 2
  /// threads: within the oracle's tolerance (out, and lse for the forward), bitwise the same
  /// at 1 and 2 threads and on both paths. Returns the 1-thread run.
  @discardableResult
  static func assertPathsAgree(
    _ c: KernelCase, _ what: String, file: StaticString = #filePath, line: UInt = #line
  ) throws -> KernelRun {
    defer { dino_attention_use_tiles(0) }
    let want = try referenceRun(c)
    dino_attention_use_tiles(0)
    let one = try runKernel(c, threads: 1), two = try runKernel(c, threads: 2)
    dino_attention_use_tiles(1)
    let tiles = try runKernel(c, threads: 2)
    let bad = mismatches(one.out, want.out, atol: 1e-5, rtol: 1e-4)
    XCTAssert(bad.isEmpty, "\(what): \(bad)", file: file, line: line)
    if c.op == .attention {
      let badLse = mismatches(one.extras[0], want.extras[0], atol: 1e-5, rtol: 1e-5)
      XCTAssert(badLse.isEmpty, "\(what) lse: \(badLse)", file: file, line: line)
    }
    assertBitwise(one, two, "\(what): 1 and 2 threads", file: file, line: line)
    assertBitwise(one, tiles, "\(what): the padded tiles against the picked path", file: file,
      line: line)
    return one
  }

  /// The forward of the first `q` queries (`prefix`: out [b, q, dim], lse [b, heads, q]) is
  /// bitwise the first q rows of the whole attention (`whole`: [b, n, dim], [b, heads, n]).
  static func assertPrefixIsWholeRows(
    _ prefix: KernelRun, _ whole: KernelRun, images b: Int, tokens n: Int, queries q: Int,
    heads: Int, dim: Int, _ what: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    for bi in 0..<b {
      XCTAssertEqual(
        bits(Array(prefix.out[(bi * q * dim)..<((bi + 1) * q * dim)])),
        bits(Array(whole.out[(bi * n * dim)..<((bi * n + q) * dim)])),
        "\(what) image \(bi): the first \(q) rows", file: file, line: line)
      for h in 0..<heads {
        let l = (bi * heads + h) * n, m = (bi * heads + h) * q
        XCTAssertEqual(
          bits(Array(prefix.extras[0][m..<(m + q)])), bits(Array(whole.extras[0][l..<(l + q)])),
          "\(what) image \(bi) head \(h): lse", file: file, line: line)
      }
    }
  }

  /// For the backward case `c` (of `images` × `tokens`, the first `queries` queries, or all
  /// when nil): the oracle's backward is the derivative of its forward (central differences
  /// of Σ dy ⊙ attention(qkv) per element of qkv), and the kernel agrees with both.
  static func assertBackwardIsForwardsDerivative(
    _ c: KernelCase, images b: Int, tokens n: Int, queries: Int? = nil, heads: Int, headDim hd: Int,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let scale = Double(c.fattr[0])
    let dy = ReferenceTensor(shape: [b, queries ?? n, heads * hd], floats: c.data[0])
    let qkv = ReferenceTensor(shape: [b, n, 3 * heads * hd], floats: c.data[1])
    func loss(_ x: ReferenceTensor) -> Double {
      let out = ReferenceInterpreter.attention(x, heads: heads, queries: queries, scale: scale).out
      return zip(out.data, dy.data).reduce(0) { $0 + $1.0 * $1.1 }
    }
    let (out, lse) = ReferenceInterpreter.attention(
      qkv, heads: heads, queries: queries, scale: scale)
    let analytic = ReferenceInterpreter.attentionBwd(dy, qkv, out, lse, heads: heads, scale: scale)
    let h = 1e-5
    for index in qkv.data.indices {
      var up = qkv, down = qkv
      up.data[index] += h
      down.data[index] -= h
      let numeric = (loss(up) - loss(down)) / (2 * h)
      XCTAssertEqual(
        analytic.data[index], numeric, accuracy: 1e-7, "qkv[\(index)]", file: file, line: line)
    }
    let kernel = try runKernel(c, threads: 1).out
    for (got, want) in zip(kernel, analytic.data) {
      XCTAssertEqual(Double(got), want, accuracy: 1e-5, file: file, line: line)
    }
  }
}
