/// Checks the invariants every pass must preserve; run after each pass of the pipeline.
public enum Verifier {
  /// Verifies `graph`, throwing the first problem found with its model.swift location.
  ///
  /// Checks: unique program names; operands defined earlier (SSA, topological order);
  /// arity and attribute schema; kernel slot limits; types recomputed from the op table
  /// against stored types; effect ops mutate only `parameter` values; persistent buffers
  /// agree on type, init and trainability across programs; outputs name defined values.
  public static func verify(_ graph: Graph) throws(CompileError) {
    var programNames = Set<String>()
    var buffers: [String: (TensorType, String, Int, SourceLoc)] = [:]
    for program in graph.programs {
      if !programNames.insert(program.name).inserted {
        throw CompileError("duplicate program @\(program.name)")
      }
      var inputNames = Set<String>()
      for (index, node) in program.nodes.enumerated() {
        try verify(node, index: index, in: program)
        switch node.op {
        case .input:
          if !inputNames.insert(node.attrs.string("name")).inserted {
            throw CompileError(
              "duplicate input '\(node.attrs.string("name"))' in @\(program.name)", at: node.loc)
          }
        case .parameter:
          let name = node.attrs.string("name")
          let spec = (node.type, node.attrs.string("init"), node.attrs.int("trainable"), node.loc)
          if let seen = buffers[name] {
            if seen.0 != spec.0 || seen.1 != spec.1 || seen.2 != spec.2 {
              throw CompileError(
                "parameter '\(name)' declared as \(spec.0) init \(spec.1) but earlier as \(seen.0) init \(seen.1)",
                at: node.loc, notes: ["first declared at \(seen.3)"])
            }
          } else {
            buffers[name] = spec
          }
        default: break
        }
      }
      var outputNames = Set<String>()
      for output in program.outputs {
        if output.value.index < 0 || output.value.index >= program.nodes.count {
          throw CompileError("output '\(output.name)' of @\(program.name) names undefined \(output.value)")
        }
        if !outputNames.insert(output.name).inserted {
          throw CompileError("duplicate output '\(output.name)' in @\(program.name)")
        }
      }
    }
  }

  private static func verify(_ node: Node, index: Int, in program: Program) throws(CompileError) {
    let op = node.op
    func fail(_ message: String) -> CompileError {
      CompileError("\(message)", at: node.loc, notes: ["in %\(index) of @\(program.name)"])
    }
    for operand in node.operands where operand.index < 0 || operand.index >= index {
      throw fail("\(op.name): operand \(operand) is not defined before %\(index)")
    }
    if let problem = op.attributeProblem(node.attrs) { throw fail(problem) }
    let slots = node.kernelAttributes
    if slots.ints.count > 8 || slots.floats.count > 4 {
      throw fail("\(op.name): attributes exceed the kernel's slots (8 ints, 4 floats)")
    }
    if node.operands.count > 16 { throw fail("\(op.name): more than 16 operands") }
    if op.isLeaf && !node.operands.isEmpty { throw fail("\(op.name): a leaf takes no operands") }
    if op == .parameter && !node.attrs.string("name").contains(".") && node.attrs.string("name") != "center" {
      throw fail("parameter: name '\(node.attrs.string("name"))' must be <region>.<path>")
    }
    let operandTypes = node.operands.map { program.nodes[$0.index].type }
    let expected: TensorType
    do {
      expected = try op.resultType(operandTypes, node.attrs, declared: node.type)
    } catch {
      throw fail(error.message)
    }
    if expected != node.type {
      throw fail("\(op.name): stored type \(node.type) differs from inferred \(expected)")
    }
    for m in op.mutatedOperands where m < node.operands.count {
      if program.nodes[node.operands[m].index].op != .parameter {
        throw fail("\(op.name): operand \(m) must be a parameter (it is updated in place)")
      }
    }
  }
}
