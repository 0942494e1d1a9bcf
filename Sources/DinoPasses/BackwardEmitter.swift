import DinoIR

/// Appends backward nodes to a program: each node gets its type from the op table's shape
/// rule and the location and scope of the forward node being differentiated.
struct BackwardEmitter {
  /// The program being extended.
  private(set) var program: Program
  private var loc = SourceLoc.unknown
  private var scope = ""
  private var forwardOp: OpKind?

  /// Starts from the forward program.
  init(program: Program) { self.program = program }

  /// Tags the nodes emitted next with `node`'s location and scope.
  mutating func at(_ node: Node) {
    loc = node.loc
    scope = node.scope
    forwardOp = node.op
  }

  /// The shape of `value`.
  func shape(_ value: ValueID) -> [Int] { program[value].type.shape }

  /// Appends `op` applied to `operands` and returns its value.
  ///
  /// - Parameters:
  ///   - op: the op.
  ///   - operands: its operands, already in the program.
  ///   - attrs: its attributes.
  ///   - declared: the type of a leaf.
  /// - Throws: `CompileError` if the op table rejects the operands (a bug in a VJP rule).
  mutating func emit(
    _ op: OpKind, _ operands: [ValueID], _ attrs: Attributes = [:], declared: TensorType? = nil
  ) throws(CompileError) -> ValueID {
    let type: TensorType
    do {
      type = try op.resultType(operands.map { program[$0].type }, attrs, declared: declared)
    } catch {
      let forward = forwardOp?.name ?? "the loss"
      throw CompileError(
        "autodiff: internal error in the gradient of \(forward): \(error.message)", at: loc)
    }
    return program.append(
      Node(op, operands, attrs: attrs, type: type, loc: loc, scope: scope, isBackward: true))
  }

  /// `value` reshaped to `shape`; `value` itself when the shape already matches.
  mutating func reshape(_ value: ValueID, _ shape: [Int]) throws(CompileError) -> ValueID {
    shape == self.shape(value) ? value : try emit(.reshape, [value], ["shape": .ints(shape)])
  }

  /// `value` summed down to `shape` (the adjoint of broadcasting); `value` when equal.
  mutating func sumTo(_ value: ValueID, _ shape: [Int]) throws(CompileError) -> ValueID {
    shape == self.shape(value) ? value : try emit(.sumTo, [value], ["shape": .ints(shape)])
  }

  /// `value` broadcast to `shape`; `value` when equal.
  mutating func broadcastTo(_ value: ValueID, _ shape: [Int]) throws(CompileError) -> ValueID {
    shape == self.shape(value) ? value : try emit(.broadcastTo, [value], ["shape": .ints(shape)])
  }

  /// `value · factor`.
  mutating func scale(_ value: ValueID, _ factor: Double) throws(CompileError) -> ValueID {
    try emit(.scale, [value], ["factor": .float(factor)])
  }

  /// `op(a) · op(b)`, where `op` transposes the last two dimensions when its flag is set.
  mutating func matmul(
    _ a: ValueID, _ b: ValueID, transA: Bool, transB: Bool
  ) throws(CompileError) -> ValueID {
    try emit(.matmul, [a, b], ["trans_a": .int(transA ? 1 : 0), "trans_b": .int(transB ? 1 : 0)])
  }

  /// `value` as a matrix: every leading dimension folded into rows, the last kept.
  mutating func rows(_ value: ValueID) throws(CompileError) -> ValueID {
    let shape = self.shape(value)
    let columns = shape.last ?? 1
    return try reshape(value, [shape.reduce(1, *) / max(columns, 1), columns])
  }

  /// `value` with its last two dimensions swapped.
  mutating func transposeLastTwo(_ value: ValueID) throws(CompileError) -> ValueID {
    let rank = shape(value).count
    var perm = Array(0..<rank)
    perm.swapAt(rank - 2, rank - 1)
    return try emit(.permute, [value], ["perm": .ints(perm)])
  }
}
