import CDinoKernels
import Foundation
import XCTest
import _DinoTestSupport

/// The exact (erf) GELU and its derivative (gelu.h, run through the `gelu` and `gelu_bwd`
/// ops, which share the GEMM epilogues' inline) against a float64 reference over every
/// 1e-4 step of [−10, 10], and on the values a sweep does not reach: ±inf, NaN, the
/// largest floats, denormals and signed zeros.
final class GeluAccuracyTests: XCTestCase {
  /// float64 GELU v·Φ(v), Φ from erfc so that the negative tail keeps its relative accuracy.
  private func gelu(_ v: Double) -> Double { v * 0.5 * erfc(-v / 2.0.squareRoot()) }

  /// float64 GELU'(v) = Φ(v) + v·φ(v).
  private func geluGrad(_ v: Double) -> Double {
    0.5 * erfc(-v / 2.0.squareRoot()) + v * exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
  }

  /// x = −10 + i·1e-4 for i = 0 … 200000, rounded to float.
  private let sweep: [Float] = (0...200_000).map { Float(-10.0 + Double($0) * 1e-4) }

  private func runGelu(_ x: [Float], threads: Int = 2) throws -> [Float] {
    var rng = TestRNG(seed: 1)
    var c = KernelCase(.gelu, [[x.count]], out: [x.count], rng: &rng)
    c.data = [x]
    return try runKernel(c, threads: threads).out
  }

  private func runGeluGrad(_ x: [Float], dy: Float = 1, threads: Int = 2) throws -> [Float] {
    var rng = TestRNG(seed: 1)
    var c = KernelCase(.geluBwd, [[x.count], [x.count]], out: [x.count], rng: &rng)
    c.data = [[Float](repeating: dy, count: x.count), x]
    return try runKernel(c, threads: threads).out
  }

  /// The largest absolute and relative error over the points, relative only where the
  /// reference is a normal float and the point is kept by `relativeAt`.
  private func errors(
    _ x: [Float], _ got: [Float], _ reference: (Double) -> Double,
    relativeAt: (Double) -> Bool = { _ in true }
  ) -> (abs: Double, rel: Double, worstAbsAt: Float, worstRelAt: Float) {
    var worst = (abs: 0.0, rel: 0.0, worstAbsAt: Float(0), worstRelAt: Float(0))
    for (v, y) in zip(x, got) {
      let exact = reference(Double(v))
      let e = abs(Double(y) - exact)
      if !(e <= worst.abs) { worst.abs = e; worst.worstAbsAt = v }
      if abs(exact) >= Double(Float.leastNormalMagnitude) && relativeAt(Double(v)) {
        let r = e / abs(exact)
        if !(r <= worst.rel) { worst.rel = r; worst.worstRelAt = v }
      }
    }
    return worst
  }

  /// gelu: measured 2.4e-7 absolute (half an ulp of the output near |x| = 5) and 3.8e-7
  /// relative everywhere (the erf form it replaced: 4.5e-7 and 1, its tail rounding to 0).
  func testGeluErrorOverTheDenseSweep() throws {
    let e = errors(sweep, try runGelu(sweep), gelu)
    XCTAssertLessThan(e.abs, 3e-7, "gelu max abs error at x = \(e.worstAbsAt)")
    XCTAssertLessThan(e.rel, 6e-7, "gelu max relative error at x = \(e.worstRelAt)")
  }

  /// gelu': measured 1.03e-7 absolute (the erf form: 1.26e-7) and 4.9e-7 relative farther
  /// than 0.2 from its zero at x ≈ −0.7518, next to which any float evaluation loses
  /// relative accuracy (the erf form: 3e-2, in the tail).
  func testGeluGradErrorOverTheDenseSweep() throws {
    let e = errors(sweep, try runGeluGrad(sweep), geluGrad) { abs($0 + 0.7518) > 0.2 }
    XCTAssertLessThan(e.abs, 1.2e-7, "gelu' max abs error at x = \(e.worstAbsAt)")
    XCTAssertLessThan(e.rel, 1e-6, "gelu' max relative error at x = \(e.worstRelAt)")
  }

  /// dy scales the derivative: gelu_bwd(dy, x) = dy·gelu'(x), for a dy that is not 1.
  func testGeluGradIsScaledByDy() throws {
    let dy: Float = -2.5
    let one = try runGeluGrad(sweep)
    let scaled = try runGeluGrad(sweep, dy: dy)
    for (i, (g, s)) in zip(one, scaled).enumerated() where s != dy * g {
      XCTFail("x = \(sweep[i]): \(s) is not \(dy) · \(g)")
      break
    }
  }

  func testSpecialValues() throws {
    let x: [Float] = [
      .infinity, -.infinity, .nan, -.nan, .greatestFiniteMagnitude, -.greatestFiniteMagnitude,
      1e30, -1e30, 13.25, -13.25, 20, -20, .leastNonzeroMagnitude, -.leastNonzeroMagnitude,
      1e-40, -1e-40, 0, -0.0,
    ]
    let y = try runGelu(x)
    let g = try runGeluGrad(x)
    XCTAssertEqual(y[0], .infinity)
    XCTAssertEqual(y[1], 0, "gelu(-inf) is 0 (either sign)")
    XCTAssertTrue(y[2].isNaN && y[3].isNaN, "NaN propagates: \(y[2]), \(y[3])")
    XCTAssertTrue(g[2].isNaN && g[3].isNaN, "NaN propagates: \(g[2]), \(g[3])")
    XCTAssertEqual(g[0], 1, "gelu'(+inf)")
    XCTAssertEqual(g[1], 0, "gelu'(-inf)")
    for i in 4..<x.count {
      XCTAssertTrue(y[i].isFinite && g[i].isFinite, "x = \(x[i]): \(y[i]), \(g[i])")
      let v = Double(x[i])
      XCTAssertEqual(Double(y[i]), gelu(v), accuracy: 1e-7 * max(1, abs(v)), "gelu(\(x[i]))")
      XCTAssertEqual(Double(g[i]), geluGrad(v), accuracy: 1e-7, "gelu'(\(x[i]))")
    }
    XCTAssertEqual(y[4], .greatestFiniteMagnitude)
    XCTAssertEqual(y[5], 0)
    XCTAssertEqual(y[16], 0)
    XCTAssertEqual(g[16], 0.5)
  }

  /// Every element is computed by the same branch-free code whatever the thread split and
  /// its place in a vector or the remainder loop: 1 and 2 threads, and an odd length.
  func testOneAndTwoThreadsAgreeBitwise() throws {
    let x = Array(sweep[0..<(sweep.count - 3)])
    XCTAssertEqual(try runGelu(x, threads: 1).map(\.bitPattern), try runGelu(x).map(\.bitPattern))
    XCTAssertEqual(
      try runGeluGrad(x, threads: 1).map(\.bitPattern), try runGeluGrad(x).map(\.bitPattern))
  }
}
