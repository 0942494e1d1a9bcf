import CDinoKernels
import XCTest
import _DinoTestSupport

/// The fused kernels against the unfused ones they replace, bit for bit, on odd shapes (for
/// layer norm on both sides of sum_to's blocked threshold, 128 rows), at 1 and 2 threads.
final class FusedKernelTests: XCTestCase {
  /// Row counts and widths: tiny, odd, one short of and past the 128-row threshold.
  private let shapes: [[Int]] = [[1, 3], [3, 5, 7], [127, 33], [2, 65, 49], [301, 193]]

  private func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }

  func testLayerNormTrainIsLayerNormPlusItsRowStatistics() throws {
    var rng = TestRNG(seed: 9_001)
    for x in shapes {
      let d = x.last!
      let c = KernelCase(.layerNorm, [x, [d], [d]], out: x, fattr: [1e-6], rng: &rng) { _, r in
        r.float(-2, 2) + 0.25
      }
      var fused = KernelCase(.layerNormTrain, c.shapes, out: x, fattr: [1e-6], rng: &rng)
      fused.data = c.data
      fused.extraOuts = [Array(x.dropLast()) + [2]]
      for threads in [1, 2] {
        let plain = try runKernel(c, threads: threads)
        let run = try runKernel(fused, threads: threads)
        XCTAssertEqual(bits(run.out), bits(plain.out), "\(x) \(threads) threads: y")
        let expected = layerNormStats(c.data[0], cols: d, eps: 1e-6)
        for (got, want) in zip(run.extras[0], expected) {
          XCTAssertEqual(got, want, accuracy: 1e-4 * max(1, abs(want)), "\(x): stats")
        }
      }
    }
  }

  func testLayerNormGradIsTheThreeUnfusedKernels() throws {
    var rng = TestRNG(seed: 9_002)
    let eps: Float = 1e-5
    for x in shapes {
      let d = x.last!
      let rows = x.dropLast().reduce(1, *)
      let stats = Array(x.dropLast()) + [2]
      let forward = KernelCase(.layerNormTrain, [x, [d], [d]], out: x, fattr: [eps], rng: &rng) {
        _, r in
        r.float(-2, 2) + 0.25
      }
      var forwardRun = forward
      forwardRun.extraOuts = [stats]
      let saved = try runKernel(forwardRun).extras[0]
      let dy = (0..<rows * d).map { _ in rng.float(-1, 1) }
      let (xs, gamma) = (forward.data[0], forward.data[1])
      var fused = KernelCase(.layerNormGrad, [x, x, stats, [d]], out: x, rng: &rng)
      fused.data = [dy, xs, saved, gamma]
      fused.extraOuts = [[d], [d]]
      var dx = KernelCase(.layerNormBwd, [x, x, [d]], out: x, fattr: [eps], rng: &rng)
      dx.data = [dy, xs, gamma]
      var dgamma = KernelCase(.layerNormBwdGamma, [x, x], out: [d], fattr: [eps], rng: &rng)
      dgamma.data = [dy, xs]
      var dbeta = KernelCase(.sumTo, [x], out: [d], iattr: [Int64(d)], rng: &rng)
      dbeta.data = [dy]
      for threads in [1, 2] {
        let run = try runKernel(fused, threads: threads)
        let label = "\(x) \(threads) threads"
        XCTAssertEqual(bits(run.out), bits(try runKernel(dx, threads: threads).out), "\(label): dx")
        XCTAssertEqual(
          bits(run.extras[0]), bits(try runKernel(dgamma, threads: threads).out), "\(label): dgamma"
        )
        XCTAssertEqual(
          bits(run.extras[1]), bits(try runKernel(dbeta, threads: threads).out), "\(label): dbeta")
      }
    }
  }

  func testLinearGeluIsLinearThenGelu() throws {
    var rng = TestRNG(seed: 9_004)
    // Small (serial) and large enough for the split GEMM (by rows and by columns).
    for (rows, inDim, outDim) in [(3, 5, 7), (301, 33, 97), (17, 65, 769)] {
      let linear = KernelCase(
        .linear, [[rows, inDim], [outDim, inDim], [outDim]], out: [rows, outDim], rng: &rng)
      var fused = KernelCase(.linearGelu, linear.shapes, out: [rows, outDim], rng: &rng)
      fused.data = linear.data
      fused.extraOuts = [[rows, outDim]]
      for threads in [1, 2] {
        let h = try runKernel(linear, threads: threads).out
        var gelu = KernelCase(.gelu, [[rows, outDim]], out: [rows, outDim], rng: &rng)
        gelu.data = [h]
        let run = try runKernel(fused, threads: threads)
        let label = "\(rows)x\(inDim)x\(outDim) \(threads) threads"
        XCTAssertEqual(bits(run.extras[0]), bits(h), "\(label): pre-activation")
        XCTAssertEqual(
          bits(run.out), bits(try runKernel(gelu, threads: threads).out), "\(label): gelu")
      }
    }
  }

  func testLinearResidualIsLinearThenAdd() throws {
    var rng = TestRNG(seed: 9_005)
    for (rows, inDim, outDim) in [(3, 5, 7), (301, 33, 97), (17, 65, 769)] {
      let linear = KernelCase(
        .linear, [[rows, inDim], [outDim, inDim], [outDim]], out: [rows, outDim], rng: &rng)
      let residual = (0..<rows * outDim).map { _ in rng.float(-3, 3) }
      var fused = KernelCase(
        .linearResidual, linear.shapes + [[rows, outDim]], out: [rows, outDim], rng: &rng)
      fused.data = linear.data + [residual]
      for threads in [1, 2] {
        var add = KernelCase(
          .add, [[rows, outDim], [rows, outDim]], out: [rows, outDim], rng: &rng)
        add.data = [residual, try runKernel(linear, threads: threads).out]
        let label = "\(rows)x\(inDim)x\(outDim) \(threads) threads"
        XCTAssertEqual(
          bits(try runKernel(fused, threads: threads).out),
          bits(try runKernel(add, threads: threads).out), label)
      }
    }
  }

  func testLinearGeluOnlyIsLinearThenGelu() throws {
    var rng = TestRNG(seed: 9_006)
    for (rows, inDim, outDim) in [(3, 5, 7), (301, 33, 97), (17, 65, 769)] {
      let linear = KernelCase(
        .linear, [[rows, inDim], [outDim, inDim], [outDim]], out: [rows, outDim], rng: &rng)
      var fused = KernelCase(.linearGeluOnly, linear.shapes, out: [rows, outDim], rng: &rng)
      fused.data = linear.data
      for threads in [1, 2] {
        var gelu = KernelCase(.gelu, [[rows, outDim]], out: [rows, outDim], rng: &rng)
        gelu.data = [try runKernel(linear, threads: threads).out]
        XCTAssertEqual(
          bits(try runKernel(fused, threads: threads).out),
          bits(try runKernel(gelu, threads: threads).out),
          "\(rows)x\(inDim)x\(outDim) \(threads) threads")
      }
    }
  }

  func testLinearResidualScaledIsLinearThenMulThenAdd() throws {
    var rng = TestRNG(seed: 9_007)
    // [images, tokens, in]: one scale per image, drop-path values and arbitrary ones.
    for (lead, inDim, outDim) in [([3, 1], 5, 7), ([7, 43], 33, 97), ([2, 9], 65, 769)] {
      let (shape, out) = (lead + [inDim], lead + [outDim])
      let scaleShape = [lead[0], 1, 1]
      let linear = KernelCase(.linear, [shape, [outDim, inDim], [outDim]], out: out, rng: &rng)
      let residual = (0..<out.reduce(1, *)).map { _ in rng.float(-3, 3) }
      let scale: [Float] = (0..<lead[0]).map { i in [0, 1 / 0.9, rng.float(-2, 2)][i % 3] }
      var fused = KernelCase(
        .linearResidualScaled, linear.shapes + [out, scaleShape], out: out, rng: &rng)
      fused.data = linear.data + [residual, scale]
      for threads in [1, 2] {
        var mul = KernelCase(.mul, [out, scaleShape], out: out, rng: &rng)
        mul.data = [try runKernel(linear, threads: threads).out, scale]
        var add = KernelCase(.add, [out, out], out: out, rng: &rng)
        add.data = [residual, try runKernel(mul, threads: threads).out]
        XCTAssertEqual(
          bits(try runKernel(fused, threads: threads).out),
          bits(try runKernel(add, threads: threads).out), "\(out) \(threads) threads")
      }
    }
  }

  func testMatmulGeluBwdIsMatmulThenGeluBwd() throws {
    var rng = TestRNG(seed: 9_008)
    // (a, b, flags, result): plain, tall (a batch folded into M with a shared b), batched,
    // transposed, split by rows and by columns.
    let cases: [([Int], [Int], [Int64], [Int])] = [
      ([3, 5], [5, 7], [0, 0], [3, 7]),
      ([3, 43, 97], [97, 33], [0, 0], [3, 43, 33]),
      ([301, 33], [97, 33], [0, 1], [301, 97]),
      ([2, 65, 17], [2, 65, 769], [1, 0], [2, 17, 769]),
      ([5, 19, 31], [5, 23, 31], [0, 1], [5, 19, 23]),
    ]
    for (a, b, flags, out) in cases {
      let matmul = KernelCase(.matmul, [a, b], out: out, iattr: flags, rng: &rng)
      let h = (0..<out.reduce(1, *)).map { _ in rng.float(-6, 6) }
      var fused = KernelCase(.matmulGeluBwd, [a, b, out], out: out, iattr: flags, rng: &rng)
      fused.data = matmul.data + [h]
      for threads in [1, 2] {
        var geluBwd = KernelCase(.geluBwd, [out, out], out: out, rng: &rng)
        geluBwd.data = [try runKernel(matmul, threads: threads).out, h]
        XCTAssertEqual(
          bits(try runKernel(fused, threads: threads).out),
          bits(try runKernel(geluBwd, threads: threads).out), "\(a) x \(b) \(threads) threads")
      }
    }
  }

  func testResultInstructionLeavesItsTensorAlone() throws {
    var rng = TestRNG(seed: 9_003)
    let c = KernelCase(.result, [[4]], out: [4], iattr: [1], rng: &rng)
    let run = try runKernel(c)
    XCTAssertTrue(run.out.allSatisfy(\.isNaN), "the producer writes it, not the result op")
  }
}
