import DinoOps

/// A value in the program being recorded: which node defines it, and its static type.
///
/// Tensors are cheap handles; every operation on them appends a node to the program that
/// is being recorded (`model.program("name") { … }`). A tensor whose operation failed a
/// shape check is *invalid*: it carries a best-guess shape so that model.swift keeps
/// running and later, independent errors are reported too, and operations on it record
/// nothing and report nothing (no cascades).
public struct Tensor: Sendable, CustomStringConvertible {
  /// The recorder the tensor belongs to.
  let program: Int
  /// The defining node's index, or -1 for an invalid tensor.
  let index: Int
  /// The extent of each dimension, outermost first.
  public let shape: [Int]
  /// The element type (`.f32`, or `.i32` for seeds).
  public let dtype: DType
  /// Where model.swift created it.
  let loc: SourceLoc
  /// The layer calls that were running when it was created, outermost first: an operator
  /// applied to it outside those layers takes its location from the call at its own depth.
  var callers: [SourceLoc] = []
  /// Whether it reads a parameter (whose location is its declaration, not a use).
  var isParameter = false

  /// Whether the tensor is defined by a node (its operation passed its checks).
  public var isValid: Bool { index >= 0 }
  /// The number of dimensions.
  public var rank: Int { shape.count }
  /// The number of elements.
  public var count: Int { shape.reduce(1, *) }
  /// The tensor's type.
  public var type: TensorType { TensorType(dtype, shape) }

  /// `%3: f32[8,32]`, or `invalid f32[8,32]`.
  public var description: String { isValid ? "%\(index): \(type)" : "invalid \(type)" }
}

/// One program under construction.
final class ProgramRecorder {
  /// Unique within the process, to detect tensors used across programs.
  let id: Int
  /// `forward`, `train_step`, …
  let name: String
  /// Where model.swift declared it.
  let loc: SourceLoc
  /// The nodes; node i defines value i.
  var nodes: [Wire.Node] = []
  /// Named results.
  var outputs: [Wire.Output] = []
  /// The node reading each parameter, so that a parameter appears once per program.
  var parameterNodes: [ObjectIdentifier: Tensor] = [:]
  /// The next automatic `drop_path_mask` stream.
  var nextStream = 0

  init(id: Int, name: String, loc: SourceLoc) {
    self.id = id
    self.name = name
    self.loc = loc
  }

  /// The wire form of the program.
  var wire: Wire.Program { Wire.Program(name: name, nodes: nodes, outputs: outputs) }
}

extension Session {
  /// Appends `op` to the program being recorded, after checking its operands and its shape
  /// rule; on failure records an error at `loc` and returns an invalid tensor of `fallback`
  /// type (or, when an operand is already invalid, returns one silently).
  func record(
    _ op: OpKind, _ operands: [Tensor], _ attrs: Attributes = [:], declared: TensorType? = nil,
    at loc: SourceLoc, fallback: @autoclosure () -> TensorType
  ) -> Tensor {
    func invalid(_ id: Int) -> Tensor {
      let type = fallback()
      return Tensor(
        program: id, index: -1, shape: type.shape, dtype: type.dtype, loc: loc,
        callers: scopes.map(\.loc))
    }
    guard let program else {
      error(
        "\(op.name) used outside a program; record operations inside model.program(\"name\") { … }",
        at: loc)
      return invalid(-1)
    }
    if operands.contains(where: { !$0.isValid }) { return invalid(program.id) }
    for (i, operand) in operands.enumerated() where operand.program != program.id {
      error(
        "\(op.name): operand \(i) was recorded in another program, not in @\(program.name)", at: loc
      )
      return invalid(program.id)
    }
    let type: TensorType
    do {
      type = try op.resultType(operands.map(\.type), attrs, declared: declared)
    } catch {
      self.error(error.message, at: loc)
      return invalid(program.id)
    }
    program.nodes.append(
      Wire.Node(
        op: op.name, operands: operands.map(\.index), attrs: attrs, type: type, loc: loc,
        scope: scopes.last?.path ?? ""))
    return Tensor(
      program: program.id, index: program.nodes.count - 1, shape: type.shape,
      dtype: type.dtype, loc: loc, callers: scopes.map(\.loc), isParameter: op == .parameter)
  }

  /// `axis` made non-negative, or `nil` (with an error at `loc`) when out of range.
  func normalize(axis: Int, rank: Int, _ what: String, at loc: SourceLoc) -> Int? {
    let a = axis < 0 ? axis + rank : axis
    if a < 0 || a >= rank {
      error("\(what): axis \(axis) out of range for rank \(rank)", at: loc)
      return nil
    }
    return a
  }

  /// An invalid tensor in the current program, for an operation rejected before recording.
  func invalid(_ shape: [Int], at loc: SourceLoc) -> Tensor {
    Tensor(
      program: program?.id ?? -1, index: -1, shape: shape, dtype: .f32, loc: loc,
      callers: scopes.map(\.loc))
  }
}
