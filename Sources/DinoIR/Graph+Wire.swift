extension Graph {
  /// Decodes the payload a model.swift run wrote (see `Wire`) into a verified graph at stage
  /// `captured`.
  ///
  /// - Parameter wire: the decoded payload.
  /// - Throws: `CompileError` for a payload of another wire version, the first error the DSL
  ///   recorded, an unknown op name, an operand or output that names no earlier node, or
  ///   anything `Verifier.verify` rejects.
  public init(wire: Wire.Module) throws(CompileError) {
    guard wire.version == Wire.version else {
      throw CompileError(
        "the model's graph has wire version \(wire.version) but this dinoc reads version \(Wire.version) (mismatched DinoDSL library)"
      )
    }
    if let first = wire.errors.first {
      throw CompileError(first.message, at: first.loc, notes: first.notes)
    }
    var programs: [Program] = []
    for program in wire.programs {
      var nodes: [Node] = []
      nodes.reserveCapacity(program.nodes.count)
      for (index, node) in program.nodes.enumerated() {
        guard let op = OpKind(name: node.op) else {
          throw CompileError(
            "unknown op '\(node.op)' in %\(index) of @\(program.name) (mismatched DinoDSL library?)",
            at: node.loc)
        }
        for operand in node.operands where operand < 0 || operand >= index {
          throw CompileError(
            "\(op.name): operand %\(operand) of %\(index) in @\(program.name) is not an earlier node",
            at: node.loc)
        }
        nodes.append(
          Node(
            op, node.operands.map(ValueID.init), attrs: node.attrs, type: node.type, loc: node.loc,
            scope: node.scope))
      }
      var outputs: [ProgramOutput] = []
      for output in program.outputs {
        guard output.value >= 0 && output.value < nodes.count else {
          throw CompileError(
            "output '\(output.name)' of @\(program.name) names %\(output.value), which is not a node"
          )
        }
        outputs.append(ProgramOutput(name: output.name, value: ValueID(output.value)))
      }
      programs.append(Program(name: program.name, nodes: nodes, outputs: outputs))
    }
    self.init(programs: programs, hyper: wire.hyper, metadata: wire.metadata, stage: "captured")
    try Verifier.verify(self)
  }
}

extension Wire.Module {
  /// The wire form of `graph`: what `Graph(wire:)` reads back. Keeps programs, nodes, outputs,
  /// hyper-parameters and metadata; drops what only passes add (`isBackward`, memory slots).
  ///
  /// - Parameter graph: the graph.
  public init(_ graph: Graph) {
    self.init(
      programs: graph.programs.map { program in
        Wire.Program(
          name: program.name,
          nodes: program.nodes.map { node in
            Wire.Node(
              op: node.op.name, operands: node.operands.map(\.index), attrs: node.attrs,
              type: node.type, loc: node.loc, scope: node.scope)
          },
          outputs: program.outputs.map { Wire.Output(name: $0.name, value: $0.value.index) })
      },
      hyper: graph.hyper, metadata: graph.metadata)
  }
}
