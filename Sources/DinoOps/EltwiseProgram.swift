/// The program of an `eltwise_chain` node (its `program` attribute): element-wise steps over
/// the node's operands, each operand broadcast to operand 0's shape, the last step's value
/// the result. Step k is stored as one int, op·10000 + a·100 + b (`IR/OPS.md`), so the C
/// kernel reads it from the node's int slots; a `scale` step's b is the float attribute
/// `factor<b>` holding its factor.
public struct EltwiseProgram: Equatable, Sendable, CustomStringConvertible {
  /// At most this many steps (the kernel's int attribute slots).
  public static let maxSteps = 8
  /// At most this many operands (the verifier's limit for every node).
  public static let maxOperands = 16
  /// The ops a step may run, in code order (code = index + 1).
  public static let ops: [OpKind] = [.add, .sub, .mul, .div, .gelu, .geluBwd, .log, .exp, .scale]
  /// The factor attributes a `scale` step may name, `factor0…factor3` (the float slots).
  public static let factorNames = ["factor0", "factor1", "factor2", "factor3"]
  /// The ref of step k's value is `stepBase + k`; refs below `maxOperands` name operands.
  public static let stepBase = 50

  /// What a step reads: an operand of the node or the value of an earlier step.
  public enum Ref: Equatable, Hashable, Sendable {
    /// Operand i (xᵢ).
    case operand(Int)
    /// The value of step k (tₖ).
    case step(Int)

    /// Its code in the encoded step.
    var code: Int {
      switch self {
      case .operand(let i): return i
      case .step(let k): return EltwiseProgram.stepBase + k
      }
    }
  }

  /// One step: `op(a)`, `op(a, b)` or `scale(a)` by factor `factor`.
  public struct Step: Equatable, Sendable {
    /// One of `EltwiseProgram.ops`.
    public var op: OpKind
    /// Operand 0 of the op.
    public var a: Ref
    /// Operand 1 of a binary op (add, sub, mul, div, gelu_bwd); nil for a unary one.
    public var b: Ref?
    /// The `factorNames` slot of a `scale` step; 0 otherwise.
    public var factor: Int

    /// A step.
    public init(_ op: OpKind, _ a: Ref, _ b: Ref? = nil, factor: Int = 0) {
      self.op = op
      self.a = a
      self.b = b
      self.factor = factor
    }
  }

  /// The steps, in order.
  public var steps: [Step]

  /// A program of `steps` (not checked: `init(encoded:operandCount:)` checks).
  public init(steps: [Step]) { self.steps = steps }

  /// Whether `op` takes two operands in a step.
  public static func isBinary(_ op: OpKind) -> Bool { op.arity == 2 }

  /// The `program` attribute's ints.
  public var encoded: [Int] {
    steps.map { step in
      let code = (Self.ops.firstIndex(of: step.op) ?? -1) + 1
      return code * 10_000 + step.a.code * 100 + (step.b?.code ?? step.factor)
    }
  }

  /// Decodes and checks a `program` attribute for a node with `operandCount` operands:
  /// 1 to `maxSteps` steps of known ops, each reading existing operands or earlier steps,
  /// a unary step's b 0, every operand read by some step.
  /// - Throws: `ShapeError` naming the first bad step.
  public init(encoded: [Int], operandCount: Int) throws(ShapeError) {
    guard (1...Self.maxSteps).contains(encoded.count) else {
      throw ShapeError(
        "eltwise_chain: program has \(encoded.count) steps, expects 1 to \(Self.maxSteps)")
    }
    var steps: [Step] = []
    var read = Set<Int>()
    for (k, code) in encoded.enumerated() {
      func ref(_ c: Int) throws(ShapeError) -> Ref {
        if c < operandCount { read.insert(c); return .operand(c) }
        if c >= Self.stepBase && c < Self.stepBase + k { return .step(c - Self.stepBase) }
        throw ShapeError(
          "eltwise_chain: step \(k) (\(code)) reads \(c), neither one of the "
            + "\(operandCount) operands nor an earlier step (50 + k)")
      }
      let opCode = code / 10_000, a = code / 100 % 100, b = code % 100
      guard code >= 0, (1...Self.ops.count).contains(opCode) else {
        throw ShapeError("eltwise_chain: step \(k) (\(code)) has no op code 1 to \(Self.ops.count)")
      }
      let op = Self.ops[opCode - 1]
      if op == .scale && b >= Self.factorNames.count {
        throw ShapeError("eltwise_chain: step \(k) (\(code)): scale names factor\(b), not 0…3")
      }
      if !Self.isBinary(op) && op != .scale && b != 0 {
        throw ShapeError("eltwise_chain: step \(k) (\(code)): \(op.name) is unary, b must be 0")
      }
      steps.append(
        Step(
          op, try ref(a), Self.isBinary(op) ? try ref(b) : nil, factor: op == .scale ? b : 0))
    }
    if read.count != operandCount {
      throw ShapeError("eltwise_chain: program reads \(read.count) of its \(operandCount) operands")
    }
    self.steps = steps
  }

  /// `t0 = sub(x0, x1); t1 = div(t0, x2); t2 = scale(t1, factor0)`.
  public var description: String { text(factors: nil) }

  /// The steps as `description` writes them, a scale's factor as its value when `factors`
  /// (the node's `factor0…factor3`) are given: `t2 = scale(t1, 0.9)`.
  public func text(factors: [Double]?) -> String {
    func name(_ r: Ref) -> String {
      switch r {
      case .operand(let i): return "x\(i)"
      case .step(let k): return "t\(k)"
      }
    }
    return steps.enumerated().map { k, s in
      var args = [name(s.a)] + (s.b.map { [name($0)] } ?? [])
      if s.op == .scale {
        args.append(factors.map { String($0[s.factor]) } ?? Self.factorNames[s.factor])
      }
      return "t\(k) = \(s.op.name)(" + args.joined(separator: ", ") + ")"
    }.joined(separator: "; ")
  }
}
