/// A shape or type error found by an op's shape rule; the message names the op.
public struct ShapeError: Error, Equatable, Sendable, CustomStringConvertible {
  /// `matmul: [64,192] x [128,576] — inner dimensions differ`.
  public let message: String
  /// Creates an error with its message.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}

/// Whether `small` broadcasts to `big`: right-aligned, each dimension equal or 1.
public func broadcasts(_ small: [Int], to big: [Int]) -> Bool {
  guard small.count <= big.count else { return false }
  let offset = big.count - small.count
  return small.indices.allSatisfy { small[$0] == 1 || small[$0] == big[$0 + offset] }
}

extension OpKind {
  /// The result type of this op applied to operands of the given types.
  ///
  /// - Parameters:
  ///   - operands: the operand types, in order.
  ///   - attrs: the node's attributes (already checked against the schema).
  ///   - declared: the type a leaf declares (leaves have no rule of their own).
  /// - Throws: `ShapeError` describing the first mismatch.
  public func resultType(
    _ operands: [TensorType], _ attrs: Attributes, declared: TensorType? = nil
  ) throws(ShapeError) -> TensorType {
    if let arity, operands.count != arity {
      throw ShapeError("\(name): expects \(arity) operands, got \(operands.count)")
    }
    if arity == nil && operands.isEmpty { throw ShapeError("\(name): expects operands") }
    for (i, t) in operands.enumerated() where t.dtype != operandDType(i) {
      throw ShapeError("\(name): operand \(i) must be \(operandDType(i)), got \(t)")
    }
    let r = ShapeRuleInput(op: self, operands: operands, attrs: attrs, declared: declared)
    let s = r.s
    switch shapeRule {
    case .declared:
      guard let declared else { throw ShapeError("\(name): a leaf needs a declared type") }
      return declared
    case .same:
      return r.f32(s[0])
    case .sameAll:
      for i in s.indices.dropFirst() { try r.same(0, i, "operand") }
      return r.f32(s[0])
    case .broadcast:
      if !broadcasts(s[1], to: s[0]) {
        throw ShapeError("\(name): \(shapeText(s[1])) does not broadcast to \(shapeText(s[0]))")
      }
      return r.f32(s[0])
    case .rows:
      if s[0].isEmpty { throw ShapeError("\(name): needs rank >= 1") }
      return r.f32(s[0])
    case .reduceAxis:
      let a = try r.axis("axis", rank: s[0].count)
      var out = s[0]
      if attrs.int("keepdims") != 0 { out[a] = 1 } else { out.remove(at: a) }
      return r.f32(out)
    case .scalar:
      return .scalar
    case .custom:
      guard let rule = Self.customShapeRules[self] else {
        throw ShapeError("\(name): no custom shape rule (ShapeRules+Custom.swift)")
      }
      do {
        return try rule(r)
      } catch let error as ShapeError {
        throw error
      } catch {
        throw ShapeError("\(name): \(error)")  // the rules throw ShapeError only
      }
    }
  }
}

extension OpKind {
  /// The columns of one row of a flat op's segment table (IR/OPS.md `adamw_flat`).
  public static let segmentTableColumns = 8

  /// Checks that `shape` is a segment table's: [S, 8] with at least one segment.
  func segmentTable(_ shape: [Int]) throws(ShapeError) {
    if shape.count != 2 || shape[1] != Self.segmentTableColumns || shape[0] < 1 {
      throw ShapeError(
        "\(name): the segment table must be f32[S,\(Self.segmentTableColumns)] with S ≥ 1, "
          + "got \(shapeText(shape))")
    }
  }
}

/// What a shape rule reads: the op, its operand types and attributes, a leaf's declared
/// type, and the checks the rules share (each error names the op).
struct ShapeRuleInput: Sendable {
  /// The op.
  let op: OpKind
  /// The operand types, in order.
  let operands: [TensorType]
  /// The node's attributes.
  let attrs: Attributes
  /// The type a leaf declares.
  let declared: TensorType?
  /// The operand shapes.
  let s: [[Int]]

  /// Collects what a rule reads.
  init(op: OpKind, operands: [TensorType], attrs: Attributes, declared: TensorType?) {
    self.op = op
    self.operands = operands
    self.attrs = attrs
    self.declared = declared
    s = operands.map(\.shape)
  }

  /// An f32 type of `shape`: every op's result.
  func f32(_ shape: [Int]) -> TensorType { TensorType(.f32, shape) }

  /// Checks that operands `i` and `j` have the same shape.
  func same(_ i: Int, _ j: Int, _ what: String) throws(ShapeError) {
    if operands[i].shape != operands[j].shape {
      throw ShapeError(
        "\(op.name): \(what) \(shapeText(operands[j].shape)) differs from "
          + "\(shapeText(operands[i].shape))")
    }
  }

  /// Checks that operand `i` holds one element.
  func scalar(_ i: Int, _ what: String) throws(ShapeError) {
    if operands[i].count != 1 {
      throw ShapeError(
        "\(op.name): \(what) must be a scalar, got \(shapeText(operands[i].shape))")
    }
  }

  /// The int attribute `key`, checked as an axis of a tensor of rank `rank`.
  func axis(_ key: String, rank: Int) throws(ShapeError) -> Int {
    let a = attrs.int(key)
    if a < 0 || a >= rank {
      throw ShapeError("\(op.name): axis \(a) out of range for rank \(rank)")
    }
    return a
  }
}
