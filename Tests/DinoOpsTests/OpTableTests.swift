import CDinoOps
import DinoOps
import XCTest

/// Checks the op catalogue's Swift view against the text of IR/ops.def and IR/OPS.md.
final class OpTableTests: XCTestCase {
  /// The raw C traits of `op`, read without any of OpKind's force-unwrapping parsers.
  private func raw(_ op: OpKind) -> (name: String, family: String, attrs: String) {
    let t = dino_op_traits_of(Int32(op.rawValue)).pointee
    return (String(cString: t.name), String(cString: t.family), String(cString: t.attrs))
  }

  func testEveryOpRoundTripsByName() {
    XCTAssertEqual(OpKind.allOps.count, Int(DINO_OP_COUNT))
    XCTAssertEqual(Set(OpKind.allOps.map(\.name)).count, OpKind.allOps.count, "names are unique")
    for op in OpKind.allOps {
      let (name, family, attrs) = raw(op)
      XCTAssertFalse(name.isEmpty)
      XCTAssert(name.allSatisfy { $0.isLowercase || $0.isNumber || $0 == "_" }, name)
      XCTAssertEqual(OpKind(name: name), op, "\(name) looks itself up")
      XCTAssertNotNil(OpFamily(rawValue: family), "\(name): unknown family '\(family)'")
      var names: [String] = []
      for field in attrs.split(separator: ",") {
        let parts = field.split(separator: ":", omittingEmptySubsequences: false)
        XCTAssertEqual(parts.count, 2, "\(name): attribute '\(field)' is not name:T")
        guard parts.count == 2 else { continue }
        XCTAssertFalse(parts[0].isEmpty, "\(name): an attribute without a name")
        XCTAssertFalse(names.contains(String(parts[0])), "\(name): '\(parts[0])' twice")
        names.append(String(parts[0]))
        XCTAssertEqual(parts[1].count, 1, "\(name): kind '\(parts[1])'")
        XCTAssertNotNil(parts[1].first.flatMap(AttrKind.init(rawValue:)), "\(name): \(field)")
      }
      XCTAssertEqual(op.attrSchema.map(\.name), names, "\(name): the schema in slot order")
    }
    XCTAssertNil(OpKind(name: "no_such_op"))
    XCTAssertNil(dino_op_traits_of(Int32(DINO_OP_COUNT)))
  }

  /// The C structs read an int list as "the rest of the int slots": it must come last.
  func testAnIntListIsTheLastIntAttribute() {
    for op in OpKind.allOps {
      let kernelInts = op.attrSchema.filter { $0.kind == .int || $0.kind == .ints }
      for (i, spec) in kernelInts.enumerated() where spec.kind == .ints {
        XCTAssertEqual(i, kernelInts.count - 1, "\(op.name): int list '\(spec.name)' is not last")
      }
    }
  }

  func testEffectOpsMutateAndDifferentiableOpsNameTheirNeeds() {
    for op in OpKind.allOps {
      if op.isEffect { XCTAssertFalse(op.isDifferentiable, op.name) }
      if op.isDifferentiable { XCTAssertTrue(op.backwardNeeds.contains("dy"), op.name) }
      if !op.isDifferentiable { XCTAssertEqual(op.backwardNeeds, [], op.name) }
      for need in op.backwardNeeds where need != "dy" && need != "y" {
        let k = Int(need.dropFirst())
        XCTAssert(need.first == "x" && k != nil, "\(op.name): '\(need)' is not dy, y or xK")
        if let k, let arity = op.arity { XCTAssertLessThan(k, arity, "\(op.name): \(need)") }
      }
    }
  }

  func testOperandElementTypesComeFromTheTable() {
    XCTAssertEqual(OpKind.dropPathMask.operandDType(0), .i32)
    XCTAssertEqual(OpKind.gelu.operandDType(0), .f32)
    XCTAssertThrowsError(
      try OpKind.dropPathMask.resultType(
        [TensorType(.f32, [])], ["rate": .float(0.1), "stream": .int(0), "batch": .int(2)])
    ) { error in
      XCTAssertEqual("\(error)", "drop_path_mask: operand 0 must be i32, got f32[]")
    }
    XCTAssertEqual(
      try OpKind.dropPathMask.resultType(
        [TensorType(.i32, [])], ["rate": .float(0.1), "stream": .int(0), "batch": .int(2)]),
      TensorType(.f32, [2]))
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
