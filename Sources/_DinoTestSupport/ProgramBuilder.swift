import DinoIR

/// Builds a small test program node by node, inferring each result type from the op
/// table's shape rule (`OpKind.resultType`).
///
/// ```swift
/// var b = ProgramBuilder(name: "forward")
/// let x = b.input("x", [2, 3])
/// let w = b.parameter("student.w", [4, 3], init: "normal(0.02)")
/// let y = try b.op(.matmul, x, w, attrs: ["trans_a": .int(0), "trans_b": .int(1)])
/// b.output("y", y)
/// ```
public struct ProgramBuilder: Sendable {
  /// The program built so far.
  public private(set) var program: Program

  /// Starts an empty program named `name`.
  public init(name: String = "forward") {
    program = Program(name: name)
  }

  /// A one-program graph holding the program built so far.
  public var graph: Graph { Graph(programs: [program]) }

  /// The type of a value defined so far.
  public func type(of value: ValueID) -> TensorType { program[value].type }

  /// Appends `input {name}` of the given shape and element type.
  @discardableResult
  public mutating func input(_ name: String, _ shape: [Int], dtype: DType = .f32) -> ValueID {
    program.append(Node(.input, attrs: ["name": .string(name)], type: TensorType(dtype, shape)))
  }

  /// Appends `parameter {name, init, trainable}`: the persistent buffer `name`.
  @discardableResult
  public mutating func parameter(
    _ name: String, _ shape: [Int], init spec: String = "zeros", trainable: Bool = true
  ) -> ValueID {
    program.append(
      Node(
        .parameter,
        attrs: [
          "name": .string(name), "init": .string(spec), "trainable": .int(trainable ? 1 : 0),
        ],
        type: TensorType(.f32, shape)))
  }

  /// Appends `constant {data}` of the given shape.
  /// - Throws: `ReferenceError` when `data` does not hold exactly one value per element.
  @discardableResult
  public mutating func constant(_ data: [Float], _ shape: [Int]) throws(ReferenceError) -> ValueID {
    if data.count != shape.reduce(1, *) {
      throw ReferenceError("constant: \(data.count) values for shape \(shapeText(shape))")
    }
    return program.append(
      Node(.constant, attrs: ["data": .floats(data)], type: TensorType(.f32, shape)))
  }

  /// Appends a non-leaf op applied to `operands`, its type inferred by the op's shape rule.
  /// - Throws: `ReferenceError` for a leaf op, an undefined operand, attributes that do not
  ///   match the op's schema, or a shape error.
  @discardableResult
  public mutating func op(
    _ op: OpKind, _ operands: ValueID..., attrs: Attributes = [:]
  ) throws(ReferenceError) -> ValueID {
    try self.op(op, operands: operands, attrs: attrs)
  }

  /// Appends a non-leaf op applied to an array of operands (for `concat`).
  @discardableResult
  public mutating func op(
    _ op: OpKind, operands: [ValueID], attrs: Attributes = [:]
  ) throws(ReferenceError) -> ValueID {
    if op.isLeaf { throw ReferenceError("\(op.name): use input/parameter/constant for leaves") }
    for id in operands where !program.nodes.indices.contains(id.index) {
      throw ReferenceError("\(op.name): operand \(id) is not defined")
    }
    if let problem = op.attributeProblem(attrs) { throw ReferenceError(problem) }
    let type: TensorType
    do {
      type = try op.resultType(operands.map { program[$0].type }, attrs)
    } catch {
      throw ReferenceError(error.message)
    }
    return program.append(Node(op, operands, attrs: attrs, type: type))
  }

  /// Names `value` as a program output.
  public mutating func output(_ name: String, _ value: ValueID) {
    program.outputs.append(ProgramOutput(name: name, value: value))
  }

  /// Appends the sum of every element of `value` as an `f32[]`: a reshape to one axis,
  /// then `reduce_sum` (the scalar loss of a gradient check).
  @discardableResult
  public mutating func sumAll(_ value: ValueID) throws(ReferenceError) -> ValueID {
    let flat = try op(.reshape, value, attrs: ["shape": .ints([type(of: value).count])])
    return try op(.reduceSum, flat, attrs: ["axis": .int(0), "keepdims": .int(0)])
  }
}
