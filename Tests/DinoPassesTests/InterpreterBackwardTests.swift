import DinoIR
import XCTest
import _DinoTestSupport

/// Each `*_bwd` op of the reference interpreter against a finite difference of its forward
/// op, through `GradientCheck`: this validates the VJP formulas that the autodiff pass and
/// the kernels are checked against.
final class InterpreterBackwardTests: XCTestCase {
  /// The loss Σ forward(x, …) ⊙ r, with r a fixed random input, as a one-program graph.
  private func weightedLoss(
    _ forward: OpKind, leaves: [(name: String, shape: [Int], isBuffer: Bool)],
    attrs: Attributes, resultShape: [Int]
  ) throws -> Program {
    var b = ProgramBuilder()
    let operands = leaves.map { leaf in
      leaf.isBuffer ? b.parameter(leaf.name, leaf.shape) : b.input(leaf.name, leaf.shape)
    }
    let y = try b.op(forward, operands: operands, attrs: attrs)
    let r = b.input("r", resultShape)
    b.output("loss", try b.sumAll(try b.op(.mul, y, r)))
    return b.program
  }

  /// Checks `analytic` (the bwd op's result) against the numeric gradient of the weighted
  /// loss with respect to `name`.
  private func check(
    _ forward: OpKind, leaves: [(name: String, shape: [Int], isBuffer: Bool)],
    attrs: Attributes = [:], resultShape: [Int], wrt name: String, seed: UInt64,
    analytic: ([String: ReferenceTensor], ReferenceTensor) throws -> ReferenceTensor,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let program = try weightedLoss(forward, leaves: leaves, attrs: attrs, resultShape: resultShape)
    var inputs: [String: ReferenceTensor] = [:]
    var buffers: [String: ReferenceTensor] = [:]
    for (i, leaf) in leaves.enumerated() {
      let value = ReferenceTensor.random(shape: leaf.shape, seed: seed &+ UInt64(i), in: -1.5...1.5)
      if leaf.isBuffer { buffers[leaf.name] = value } else { inputs[leaf.name] = value }
    }
    let r = ReferenceTensor.random(shape: resultShape, seed: seed &+ 100)
    inputs["r"] = r
    let numeric = try GradientCheck.numericGradient(
      program: program, output: "loss", wrt: [name], inputs: inputs, buffers: buffers,
      eps: 1e-3)
    let expected = try analytic(inputs.merging(buffers) { a, _ in a }, r)
    let (relError, cosine) = GradientCheck.compare(expected, numeric[name]!)
    XCTAssertLessThan(relError, 1e-8, "\(forward) d/d\(name)", file: file, line: line)
    XCTAssertGreaterThan(cosine, 1 - 1e-12, "\(forward) d/d\(name)", file: file, line: line)
  }

  private typealias R = ReferenceInterpreter

  func testGeluBwd() throws {
    try check(.gelu, leaves: [("x", [3, 4], false)], resultShape: [3, 4], wrt: "x", seed: 1) {
      v, r in try R.evaluate(.geluBwd, [r, v["x"]!])
    }
  }

  func testLayerNormBwdAndGamma() throws {
    let leaves: [(name: String, shape: [Int], isBuffer: Bool)] = [
      ("x", [2, 3, 5], false), ("student.gamma", [5], true), ("student.beta", [5], true),
    ]
    let eps: Attributes = ["eps": .float(1e-5)]
    try check(.layerNorm, leaves: leaves, attrs: eps, resultShape: [2, 3, 5], wrt: "x", seed: 2) {
      v, r in try R.evaluate(.layerNormBwd, [r, v["x"]!, v["student.gamma"]!], attrs: eps)
    }
    try check(
      .layerNorm, leaves: leaves, attrs: eps, resultShape: [2, 3, 5], wrt: "student.gamma",
      seed: 3
    ) { v, r in try R.evaluate(.layerNormBwdGamma, [r, v["x"]!], attrs: eps) }
    try check(
      .layerNorm, leaves: leaves, attrs: eps, resultShape: [2, 3, 5], wrt: "student.beta",
      seed: 4
    ) { _, r in try R.evaluate(.sumTo, [r], attrs: ["shape": .ints([5])]) }
  }

  func testL2NormalizeBwd() throws {
    let eps: Attributes = ["eps": .float(1e-12)]
    try check(
      .l2Normalize, leaves: [("x", [4, 3], false)], attrs: eps, resultShape: [4, 3], wrt: "x",
      seed: 5
    ) { v, r in try R.evaluate(.l2NormalizeBwd, [r, v["x"]!], attrs: eps) }
    // Inside the clamp (‖x‖ < eps) the forward is x/eps, so dx = dy/eps.
    let x = ReferenceTensor(shape: [1, 2], data: [0.01, -0.02])
    let dy = ReferenceTensor(shape: [1, 2], data: [1, 3])
    XCTAssertEqual(
      try R.evaluate(.l2NormalizeBwd, [dy, x], attrs: ["eps": .float(0.5)]),
      ReferenceTensor(shape: [1, 2], data: [2, 6]))
  }

  func testWeightNormBwd() throws {
    let leaves: [(name: String, shape: [Int], isBuffer: Bool)] = [
      ("student.v", [3, 4], true), ("student.g", [3, 1], true),
    ]
    try check(.weightNorm, leaves: leaves, resultShape: [3, 4], wrt: "student.v", seed: 6) {
      v, r in try R.evaluate(.weightNormBwdV, [r, v["student.v"]!, v["student.g"]!])
    }
    try check(.weightNorm, leaves: leaves, resultShape: [3, 4], wrt: "student.g", seed: 7) {
      v, r in try R.evaluate(.weightNormBwdG, [r, v["student.v"]!])
    }
  }

  func testSoftmaxAndLogSoftmaxBwd() throws {
    try check(.softmax, leaves: [("x", [3, 5], false)], resultShape: [3, 5], wrt: "x", seed: 8) {
      v, r in try R.evaluate(.softmaxBwd, [r, R.softmax(v["x"]!)])
    }
    try check(.logSoftmax, leaves: [("x", [3, 5], false)], resultShape: [3, 5], wrt: "x", seed: 9) {
      v, r in try R.evaluate(.logSoftmaxBwd, [r, R.logSoftmax(v["x"]!)])
    }
  }

  func testGradientCheckCatchesAWrongGradient() throws {
    // d/dx Σ gelu(x)·r checked against r itself (the identity's gradient) must fail.
    let program = try weightedLoss(
      .gelu, leaves: [("x", [6], false)], attrs: [:], resultShape: [6])
    let r = ReferenceTensor.random(shape: [6], seed: 11)
    let numeric = try GradientCheck.numericGradient(
      program: program, output: "loss", wrt: ["x"],
      inputs: ["x": .random(shape: [6], seed: 10), "r": r], buffers: [:], eps: 1e-3,
      stencil: .central)
    let (relError, _) = GradientCheck.compare(r, numeric["x"]!)
    XCTAssertGreaterThan(relError, 0.05)
    XCTAssertEqual(GradientCheck.mismatches(analytic: ["x": r], numeric: numeric).count, 1)
    XCTAssertEqual(GradientCheck.mismatches(analytic: numeric, numeric: numeric), [])
    XCTAssertThrowsError(
      try GradientCheck.numericGradient(
        program: program, output: "loss", wrt: ["nope"], inputs: [:], buffers: [:]))
  }

  func testCompareEdgeCases() {
    let zero = ReferenceTensor(shape: [2])
    let one = ReferenceTensor(shape: [2], data: [1, 0])
    XCTAssertTrue(GradientCheck.compare(zero, zero) == (0, 1))
    XCTAssertTrue(GradientCheck.compare(one, zero) == (1, 0))
    XCTAssertTrue(GradientCheck.compare(one, ReferenceTensor(shape: [3])) == (.infinity, 0))
    let flipped = GradientCheck.compare(one, ReferenceTensor(shape: [2], data: [-1, 0]))
    XCTAssertEqual(flipped.relError, 2)
    XCTAssertEqual(flipped.cosine, -1)
  }
}
