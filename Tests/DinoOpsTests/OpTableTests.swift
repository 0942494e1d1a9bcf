import DinoOps
import XCTest

/// Checks the op catalogue's Swift view against the text of IR/ops.def and IR/OPS.md.
final class OpTableTests: XCTestCase {
  func testEveryOpRoundTripsByName() {
    for op in OpKind.allOps {
      XCTAssertEqual(OpKind(name: op.name), op)
      XCTAssertNotNil(OpFamily(rawValue: op.family.rawValue))
      _ = op.attrSchema
    }
    XCTAssertNil(OpKind(name: "no_such_op"))
  }

  func testEffectOpsMutateAndDifferentiableOpsNameTheirNeeds() {
    for op in OpKind.allOps {
      if op.isEffect { XCTAssertFalse(op.isDifferentiable, op.name) }
      if op.isDifferentiable { XCTAssertTrue(op.backwardNeeds.contains("dy"), op.name) }
    }
  }

  func testMatmulShapeErrorNamesBothShapes() {
    XCTAssertThrowsError(
      try OpKind.matmul.resultType(
        [TensorType(.f32, [64, 192]), TensorType(.f32, [128, 576])],
        ["trans_a": .int(0), "trans_b": .int(0)])
    ) { error in
      XCTAssertEqual(
        (error as? ShapeError)?.message, "matmul: [64,192] x [128,576] — inner dimensions differ")
    }
  }
}
