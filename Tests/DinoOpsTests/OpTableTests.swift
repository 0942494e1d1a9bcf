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

  /// The `shape` and `origin` columns name known values, exactly the `custom` ops have a
  /// bespoke rule, and the vocabulary rules' ops have the operands those rules read.
  func testShapeAndOriginColumns() {
    for op in OpKind.allOps {
      let t = dino_op_traits_of(Int32(op.rawValue)).pointee
      let rule = ShapeRule(rawValue: String(cString: t.shape))
      XCTAssertNotNil(rule, "\(op): unknown shape rule '\(String(cString: t.shape))'")
      XCTAssertNotNil(
        OpOrigin(rawValue: String(cString: t.origin)),
        "\(op): unknown origin '\(String(cString: t.origin))'")
      guard let rule else { continue }
      XCTAssertEqual(op.hasCustomShapeRule, rule == .custom, "\(op): custom rule iff `custom`")
      switch rule {
      case .declared: XCTAssertTrue(op.isLeaf, "\(op): only leaves have a declared type")
      case .broadcast: XCTAssertEqual(op.arity, 2, "\(op): broadcast reads two operands")
      case .same, .sameAll, .rows, .scalar: XCTAssertNotEqual(op.arity, 0, "\(op): operand 0")
      case .reduceAxis:
        XCTAssertEqual(op.attrSchema.map(\.name), ["axis", "keepdims"], "\(op): reduce attrs")
      case .custom: break
      }
    }
    XCTAssertEqual(
      OpKind.allOps.filter(\.isPassOnly).map(\.name), ["region", "adamw_flat", "ema_flat"])
    XCTAssertEqual(
      OpKind.allOps.filter(\.isMadeByFusion).map(\.name).sorted(),
      [
        "attention", "attention_bwd", "eltwise_chain", "layer_norm_grad", "layer_norm_train",
        "linear_gelu", "linear_gelu_only", "linear_residual", "linear_residual_scaled",
        "linear_weight_norm", "linear_weight_norm_bwd", "matmul_gelu_bwd", "result",
      ])
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

  /// `attention {queries}`: the first Q rows of the N tokens, [B, Q, C] and lse [B, heads,
  /// Q]; Q outside 1…N and a backward whose dy is not [B, Q, C] are one clear error each.
  func testAttentionQueriesShapeTheResults() throws {
    let qkv = TensorType(.f32, [2, 10, 18])
    let attrs: Attributes = ["heads": .int(3), "queries": .int(1), "scale": .float(0.5)]
    XCTAssertEqual(try OpKind.attention.resultType([qkv], attrs), TensorType(.f32, [2, 1, 6]))
    XCTAssertEqual(
      OpKind.attention.extraResultTypes([qkv], attrs), [TensorType(.f32, [2, 3, 1])])
    let rows = TensorType(.f32, [2, 1, 6]), lse = TensorType(.f32, [2, 3, 1])
    XCTAssertEqual(try OpKind.attentionBwd.resultType([rows, qkv, rows, lse], attrs), qkv)
    for bad in [0, 11] {
      var wrong = attrs
      wrong["queries"] = .int(bad)
      XCTAssertThrowsError(try OpKind.attention.resultType([qkv], wrong)) { error in
        XCTAssertEqual(
          (error as? ShapeError)?.message,
          "attention: queries must be in 1…10 (qkv's token count), got \(bad)")
      }
    }
    let all = TensorType(.f32, [2, 10, 6])
    XCTAssertThrowsError(try OpKind.attentionBwd.resultType([all, qkv, rows, lse], attrs)) {
      XCTAssertEqual(
        ($0 as? ShapeError)?.message, "attention_bwd: dy must be [2,1,6], got [2,10,6]")
    }
  }
}
