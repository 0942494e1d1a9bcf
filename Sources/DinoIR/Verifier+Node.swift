extension Verifier {
  /// Integer attributes that are flags: 0 or 1.
  static let flagAttributes: Set<String> = ["trans_a", "trans_b", "keepdims", "trainable", "decay"]

  /// The first problem of one node, or `nil`.
  static func problem(of node: Node, index: Int, in program: Program) -> String? {
    let op = node.op
    for operand in node.operands where operand.index < 0 || operand.index >= index {
      return "\(op.name): operand \(operand) is not defined before %\(index)"
    }
    for operand in node.operands where program[operand].op.isEffect {
      let effect = program[operand].op.name
      return "\(op.name): operand \(operand) is the dummy result of effect op \(effect)"
    }
    if let problem = op.attributeProblem(node.attrs) { return problem }
    for key in node.attrs.keys.sorted() {
      let values: [Int]
      switch node.attrs[key]! {
      case .int(let v): values = [v]
      case .ints(let v): values = v
      default: values = []
      }
      if values.contains(where: { $0 <= -(1 << 40) || $0 >= 1 << 40 }) {
        return "\(op.name): attribute '\(key)' is out of range"
      }
    }
    for shape in [node.type.shape, node.attrs.ints("shape")] where !isReasonable(shape) {
      return "\(op.name): shape \(shapeText(shape)) has a negative or too large dimension"
    }
    for spec in op.attrSchema where flagAttributes.contains(spec.name) {
      let value = node.attrs.int(spec.name)
      if value != 0 && value != 1 {
        return "\(op.name): attribute '\(spec.name)' must be 0 or 1, got \(value)"
      }
    }
    let slots = node.kernelAttributes
    if slots.ints.count > 8 || slots.floats.count > 4 {
      return "\(op.name): attributes exceed the kernel's slots (8 ints, 4 floats)"
    }
    if node.operands.count > 16 { return "\(op.name): more than 16 operands" }
    if op.isLeaf && !node.operands.isEmpty { return "\(op.name): a leaf takes no operands" }
    if let problem = leafProblem(node) { return problem }
    let expected: TensorType
    do {
      expected = try op.resultType(
        node.operands.map { program[$0].type }, node.attrs, declared: node.type)
    } catch {
      return error.message
    }
    if expected != node.type {
      return "\(op.name): stored type \(node.type) differs from inferred \(expected)"
    }
    for m in op.mutatedOperands where m < node.operands.count {
      let target = program[node.operands[m]].op
      if op == .adamwFlat || op == .emaFlat {
        if target != .region {
          return "\(op.name): operand \(m) must be a region (it is updated in place)"
        }
      } else if target != .parameter {
        return "\(op.name): operand \(m) must be a parameter (it is updated in place)"
      }
    }
    if let problem = resultProblem(of: node, index: index, in: program) { return problem }
    return segmentTableProblem(of: node, in: program)
  }

  /// Whether every dim is non-negative and the element count stays below 2⁴⁰ (so shape
  /// arithmetic cannot overflow).
  private static func isReasonable(_ shape: [Int]) -> Bool {
    var count = 1
    for dim in shape {
      guard dim >= 0 else { return false }
      let (product, overflow) = count.multipliedReportingOverflow(by: dim)
      if overflow || product >= 1 << 40 { return false }
      count = product
    }
    return true
  }

  /// Names, element types and init specs of `input`, `parameter` and `constant` nodes
  /// (`nil` for every other op).
  private static func leafProblem(_ node: Node) -> String? {
    if node.op == .input && node.attrs.string("name").isEmpty {
      return "input: name must not be empty"
    }
    if node.op == .parameter {
      let name = node.attrs.string("name")
      if !name.contains(".") && name != "center" {
        return "parameter: name '\(name)' must be <region>.<path>"
      }
      if node.type.dtype != .f32 { return "parameter: '\(name)' must be f32, got \(node.type)" }
      if InitSpec(parsing: node.attrs.string("init")) == nil {
        return
          "parameter: '\(name)' has bad init '\(node.attrs.string("init"))' (expected zeros, ones, "
          + "const(v), normal(std), trunc_normal(std,a,b), uniform(lo,hi) or copy(<buffer>))"
      }
    }
    if node.op == .region {
      let name = node.attrs.string("name")
      if name.isEmpty || name.contains(".") {
        return "region: name '\(name)' must be a region name (no dots, not empty)"
      }
    }
    if node.op == .constant && node.type.dtype != .f32 {
      return "constant: type must be f32, got \(node.type)"
    }
    return nil
  }
}
