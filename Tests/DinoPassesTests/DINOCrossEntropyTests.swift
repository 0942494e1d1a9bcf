import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// `dino_cross_entropy` against the composition `DINOLoss` emitted before it (a `scale` by
/// 1/τs, a row `log_softmax`, and per pair of views a `mul`, `reduce_sum` over K,
/// `reduce_mean` over B, summed and divided by the pair count): values and the gradients
/// autodiff derives for both, in the Double reference interpreter.
final class DINOCrossEntropyTests: XCTestCase {
  /// (B, V, K): one image, only the two global views, locals, odd K.
  private let layouts = [(1, 2, 5), (3, 2, 7), (2, 4, 9), (1, 5, 3), (2, 3, 1)]

  func testValueAndGradientEqualTheComposition() throws {
    for (index, (batch, views, k)) in layouts.enumerated() {
      let scale = 1 / 0.1
      var leaves = GradientCheckBuilder(seed: 700 + UInt64(index))
      let s = try leaves.parameter([views * batch, k], -2, 2, name: "student.logits")
      let q = try targets(&leaves, rows: 2 * batch, k: k)

      var fused = leaves
      let loss = try fused.node(
        .dinoCrossEntropy, [s, q], ["views": .int(views), "scale": .float(scale)])
      var composed = leaves
      let reference = try composition(&composed, s, q, batch: batch, views: views, scale: scale)

      let (fusedLoss, fusedGrad) = try lossAndGradient(fused, loss)
      let (composedLoss, composedGrad) = try lossAndGradient(composed, reference)
      let label = "B=\(batch) V=\(views) K=\(k)"
      XCTAssertEqual(fusedLoss, composedLoss, accuracy: 1e-12 * abs(composedLoss), label)
      XCTAssertEqual(fusedGrad.shape, composedGrad.shape, label)
      for (a, b) in zip(fusedGrad.data, composedGrad.data) {
        XCTAssertEqual(a, b, accuracy: 1e-12, label)
      }
      if k > 1 {  // one logit per row: log_softmax is 0 and so is the gradient
        XCTAssertGreaterThan(fusedGrad.norm, 1e-6, "\(label): a gradient that can fail")
      }
      try check(label, fused, loss: loss)
    }
  }

  func testShapeRuleNamesTheLayoutAndNeverTraps() throws {
    func type(_ op: OpKind, _ shapes: [[Int]], views: Int, scale: Double = 10) throws
      -> TensorType
    {
      try op.resultType(
        shapes.map { TensorType(.f32, $0) }, ["views": .int(views), "scale": .float(scale)])
    }
    XCTAssertEqual(try type(.dinoCrossEntropy, [[6, 5], [4, 5]], views: 3), .scalar)
    XCTAssertEqual(
      try type(.dinoCrossEntropyBwd, [[], [6, 5], [4, 5]], views: 3), TensorType(.f32, [6, 5]))
    let bad: [([[Int]], Int)] = [
      ([[6, 5], [4, 5]], 2), ([[4, 5], [4, 6]], 2), ([[3, 5], [3, 5]], 2),
      ([[4, 5], [4, 5]], Int.max), ([[4, 5], [4, 5]], 1), ([[4, 5, 1], [4, 5]], 2),
    ]
    for (shapes, views) in bad {
      XCTAssertThrowsError(try type(.dinoCrossEntropy, shapes, views: views)) { error in
        XCTAssert(
          (error as? ShapeError)?.message.hasPrefix("dino_cross_entropy: expects") == true,
          "\(shapes) views \(views): \(error)")
      }
    }
    for scale in [0, -1, .infinity, 1e300] {
      XCTAssertThrowsError(try type(.dinoCrossEntropy, [[4, 5], [4, 5]], views: 2, scale: scale))
    }
    XCTAssertThrowsError(try type(.dinoCrossEntropyBwd, [[2], [4, 5], [4, 5]], views: 2))
  }

  /// An input of `rows` probability rows (a softmax of uniform draws, in Double).
  private func targets(_ b: inout GradientCheckBuilder, rows: Int, k: Int) throws -> ValueID {
    let q = try b.input([rows, k], -3, 3)
    let name = b.program[q].attrs.string("name")
    b.inputs[name] = ReferenceInterpreter.softmax(b.inputs[name]!)
    return q
  }

  /// The loss as `DINOLoss` wrote it before `dino_cross_entropy`: official DINO's order.
  private func composition(
    _ b: inout GradientCheckBuilder, _ s: ValueID, _ q: ValueID, batch: Int, views: Int,
    scale: Double
  ) throws -> ValueID {
    let logP = try b.node(.logSoftmax, [b.node(.scale, [s], ["factor": .float(scale)])])
    let negQ = try b.node(.scale, [q], ["factor": .float(-1)])
    func rows(_ x: ValueID, _ i: Int) throws -> ValueID {
      try b.node(
        .slice, [x], ["axis": .int(0), "start": .int(i * batch), "end": .int((i + 1) * batch)])
    }
    var total: ValueID?
    var terms = 0
    for a in 0..<2 {
      for v in 0..<views where v != a {
        let product = try b.node(.mul, [rows(negQ, a), rows(logP, v)])
        let term = try b.reduce(.reduceMean, b.reduce(.reduceSum, product, axis: 1), axis: 0)
        total = try total.map { try b.node(.add, [$0, term]) } ?? term
        terms += 1
      }
    }
    return try b.node(.scale, [total!], ["factor": .float(1 / Double(terms))])
  }

  /// The loss and `grad.student.logits` of the differentiated program.
  private func lossAndGradient(_ b: GradientCheckBuilder, _ loss: ValueID) throws
    -> (Double, ReferenceTensor)
  {
    let outputs = try b.differentiatedRun(loss: loss).1
    return (try XCTUnwrap(outputs["loss"]?.scalar), try XCTUnwrap(outputs["grad.student.logits"]))
  }
}
