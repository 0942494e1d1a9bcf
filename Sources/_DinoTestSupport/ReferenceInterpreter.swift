import DinoIR

/// A Double-precision interpreter of one `Program`: the trusted reference that the
/// autodiff pass, the kernels and the runtime are checked against.
///
/// Every op of `IR/ops.def` is evaluated in program order with naive loops written from
/// `IR/OPS.md`: leaves and `result` here, every other op through the `reference` of its
/// oracle row (`Oracle+<family>.swift`), the one test oracle. Leaves: `input` reads `inputs[name]`, `parameter` reads `buffers[name]`,
/// `constant` its data. Effect ops (`adamw_update`, `ema_update`, `assign`) update
/// `buffers` in place when they run and yield a dummy scalar 0.
///
/// A `parameter` value aliases its buffer, as in the runtime: an operand that names a
/// `parameter` node reads the buffer's current contents, so a read placed after an effect
/// op sees the update.
///
/// Before evaluating a node the interpreter re-checks it against the op table (attribute
/// schema, shape rule on the actual operand shapes, stored type), so a malformed program
/// gives one `ReferenceError` line instead of a crash.
public enum ReferenceInterpreter {
  /// Runs `program` and returns its outputs by name.
  ///
  /// - Parameters:
  ///   - program: the program to run.
  ///   - inputs: a tensor for every `input` node, by name, of the declared shape.
  ///   - buffers: the persistent buffers, by name; effect ops update them.
  /// - Throws: `ReferenceError` naming the node for a missing input or buffer, a shape
  ///   mismatch, or a node that breaks its op's rule.
  public static func run(
    _ program: Program, inputs: [String: ReferenceTensor], buffers: inout [String: ReferenceTensor]
  ) throws(ReferenceError) -> [String: ReferenceTensor] {
    var environment = Environment(program: program, inputs: inputs, buffers: buffers)
    let values = try environment.execute()
    buffers = environment.buffers
    var outputs: [String: ReferenceTensor] = [:]
    for output in program.outputs {
      guard values.indices.contains(output.value.index) else {
        throw ReferenceError(
          "@\(program.name): output '\(output.name)' names undefined \(output.value)")
      }
      outputs[output.name] = try environment.operand(output.value)
    }
    return outputs
  }

  /// Runs the program named `name` of `graph`; see `run(_:inputs:buffers:)`.
  public static func run(
    _ graph: Graph, program name: String, inputs: [String: ReferenceTensor],
    buffers: inout [String: ReferenceTensor]
  ) throws(ReferenceError) -> [String: ReferenceTensor] {
    guard let program = graph.program(name) else {
      throw ReferenceError("the graph has no program @\(name)")
    }
    return try run(program, inputs: inputs, buffers: &buffers)
  }

  /// Runs `program` and returns the value of every node, indexed by `ValueID.index`
  /// (a `parameter` node's entry is its buffer when the node ran; an effect op's is 0).
  public static func values(
    _ program: Program, inputs: [String: ReferenceTensor], buffers: inout [String: ReferenceTensor]
  ) throws(ReferenceError) -> [ReferenceTensor] {
    var environment = Environment(program: program, inputs: inputs, buffers: buffers)
    let values = try environment.execute()
    buffers = environment.buffers
    return values
  }

  /// Evaluates one pure op on operand values (no leaves, no effect ops): the reference a
  /// single kernel is compared with.
  ///
  /// - Parameters:
  ///   - op: the op.
  ///   - operands: its operand values, in order (the seed of `drop_path_mask` as an integral
  ///     scalar).
  ///   - attrs: its attributes, matching the op's schema.
  /// - Throws: `ReferenceError` for a leaf or effect op, a schema problem or a shape error.
  public static func evaluate(
    _ op: OpKind, _ operands: [ReferenceTensor], attrs: Attributes = [:]
  ) throws(ReferenceError) -> ReferenceTensor {
    if op.isLeaf || op.isEffect {
      throw ReferenceError("\(op.name): evaluate(_:_:attrs:) runs pure ops only; run a program")
    }
    if let problem = op.attributeProblem(attrs) { throw ReferenceError(problem) }
    let types = operands.enumerated().map { i, x in
      TensorType(op == .dropPathMask && i == 0 ? .i32 : .f32, x.shape)
    }
    let type: TensorType
    do {
      type = try op.resultType(types, attrs)
    } catch {
      throw ReferenceError(error.message)
    }
    let node = Node(op, (0..<operands.count).map(ValueID.init), attrs: attrs, type: type)
    var environment = Environment(
      program: Program(name: "evaluate", nodes: [node]), inputs: [:], buffers: [:])
    return try environment.compute(node, operands)
  }
}

extension ReferenceInterpreter {
  /// The state of one run: the program, its feeds, the buffers it reads and updates.
  struct Environment {
    let program: Program
    let inputs: [String: ReferenceTensor]
    var buffers: [String: ReferenceTensor]
    var values: [ReferenceTensor] = []
    var index = 0
    /// Results 1, 2, … of the nodes with several results, by node index (read by the
    /// `result` nodes that follow them).
    var extraResults: [Int: [ReferenceTensor]] = [:]

    init(program: Program, inputs: [String: ReferenceTensor], buffers: [String: ReferenceTensor]) {
      self.program = program
      self.inputs = inputs
      self.buffers = buffers
    }

    /// `@forward %3 matmul: message`.
    func fail(_ message: String) -> ReferenceError {
      ReferenceError("@\(program.name) %\(index) \(program.nodes[index].op.name): \(message)")
    }

    /// Evaluates every node in order; returns their values.
    mutating func execute() throws(ReferenceError) -> [ReferenceTensor] {
      values = []
      values.reserveCapacity(program.nodes.count)
      for (i, node) in program.nodes.enumerated() {
        index = i
        for id in node.operands where id.index < 0 || id.index >= i {
          throw fail("operand \(id) is not defined before %\(i)")
        }
        if let problem = node.op.attributeProblem(node.attrs) { throw fail(problem) }
        var operands: [ReferenceTensor] = []
        for id in node.operands { operands.append(try operand(id)) }
        let types = zip(node.operands, operands).map { id, x in
          TensorType(program.nodes[id.index].type.dtype, x.shape)
        }
        let expected: TensorType
        do {
          expected = try node.op.resultType(types, node.attrs, declared: node.type)
        } catch {
          throw fail(error.message)
        }
        if expected != node.type {
          throw fail("stored type \(node.type) differs from \(expected) computed from the operands")
        }
        let value = try compute(node, operands)
        if value.shape != node.type.shape {
          throw fail("produced shape \(shapeText(value.shape)) for type \(node.type)")
        }
        values.append(value)
      }
      return values
    }

    /// The value of `id`: a `parameter` node's current buffer, else the computed value.
    func operand(_ id: ValueID) throws(ReferenceError) -> ReferenceTensor {
      let node = program.nodes[id.index]
      if node.op == .parameter || node.op == .region {
        let name = node.attrs.string("name")
        guard let buffer = buffers[name] else { throw fail("buffer '\(name)' is missing") }
        return buffer
      }
      return values[id.index]
    }

    /// The buffer name of operand `k` of the current node, which must be a `parameter`.
    func bufferName(ofOperand k: Int) throws(ReferenceError) -> String {
      let id = program.nodes[index].operands[k]
      let target = program.nodes[id.index]
      guard let name = target.op == .region ? target.attrs.string("name") : target.bufferName
      else {
        throw fail("operand \(k) (\(id)) must be a parameter: it is updated in place")
      }
      return name
    }

    /// The fed value of the `input` node being evaluated.
    func input(_ node: Node) throws(ReferenceError) -> ReferenceTensor {
      let name = node.attrs.string("name")
      guard let value = inputs[name] else { throw fail("input '\(name)' was not given") }
      if value.shape != node.type.shape {
        throw fail("input '\(name)' has shape \(shapeText(value.shape)), declared \(node.type)")
      }
      if node.type.dtype == .i32,
        let bad = value.data.first(where: { Int32(exactly: $0) == nil })
      {
        throw fail("input '\(name)' is i32 but holds \(bad)")
      }
      return value
    }

    /// The buffer of the `parameter` node being evaluated.
    func parameter(_ node: Node) throws(ReferenceError) -> ReferenceTensor {
      let name = node.attrs.string("name")
      guard let value = buffers[name] else { throw fail("buffer '\(name)' is missing") }
      if value.shape != node.type.shape {
        throw fail("buffer '\(name)' has shape \(shapeText(value.shape)), declared \(node.type)")
      }
      return value
    }
  }
}
