import DinoOps

// Operators cannot capture `#line`: their nodes take the location of the most recently
// created operand, marked inferred (printed `~:58`). An operand made inside a layer call that
// has since returned lends the location of that call (`student(x) / 0.1` points at
// `student(`), and parameters, located where they were declared, lend theirs only when all
// operands are parameters and no layer is running.

extension Tensor {
  /// Element-wise sum; the smaller operand broadcasts (right-aligned) to the larger.
  public static func + (a: Tensor, b: Tensor) -> Tensor { elementwise(.add, a, b) }
  /// Element-wise difference; the smaller operand broadcasts to the larger.
  public static func - (a: Tensor, b: Tensor) -> Tensor { elementwise(.sub, a, b) }
  /// Element-wise product; the smaller operand broadcasts to the larger.
  public static func * (a: Tensor, b: Tensor) -> Tensor { elementwise(.mul, a, b) }
  /// Element-wise quotient; the smaller operand broadcasts to the larger.
  public static func / (a: Tensor, b: Tensor) -> Tensor { elementwise(.div, a, b) }

  /// Adds a scalar to every element.
  public static func + (a: Tensor, b: Double) -> Tensor { elementwise(.add, a, scalar(b, near: a)) }
  /// Adds a scalar to every element.
  public static func + (a: Double, b: Tensor) -> Tensor { b + a }
  /// Subtracts a scalar from every element.
  public static func - (a: Tensor, b: Double) -> Tensor { a + -b }
  /// `a - b` element-wise, for a scalar `a`.
  public static func - (a: Double, b: Tensor) -> Tensor { -b + a }
  /// Multiplies every element by a scalar (`scale`).
  public static func * (a: Tensor, b: Double) -> Tensor { scaled(a, b) }
  /// Multiplies every element by a scalar (`scale`).
  public static func * (a: Double, b: Tensor) -> Tensor { scaled(b, a) }
  /// Divides every element by a scalar (`scale` by `1/b`).
  public static func / (a: Tensor, b: Double) -> Tensor { scaled(a, 1 / b) }
  /// Negates every element (`scale` by -1).
  public static prefix func - (a: Tensor) -> Tensor { scaled(a, -1) }

  /// `a = a + b`.
  public static func += (a: inout Tensor, b: Tensor) { a = a + b }
  /// `a = a - b`.
  public static func -= (a: inout Tensor, b: Tensor) { a = a - b }
  /// `a = a * b`.
  public static func *= (a: inout Tensor, b: Tensor) { a = a * b }
  /// `a = a / b`.
  public static func /= (a: inout Tensor, b: Tensor) { a = a / b }
  /// `a = a * b` for a scalar `b`.
  public static func *= (a: inout Tensor, b: Double) { a = a * b }
  /// `a = a / b` for a scalar `b`.
  public static func /= (a: inout Tensor, b: Double) { a = a / b }

  /// The location of an operator's node: its most recent operand's, marked inferred.
  static func inferredLoc(_ operands: Tensor...) -> SourceLoc {
    let depth = session.scopes.count
    var loc: SourceLoc
    if let recent = operands.filter({ !$0.isParameter }).max(by: { $0.index < $1.index }) {
      loc = recent.callers.count > depth ? recent.callers[depth] : recent.loc
    } else {
      loc = session.scopes.last?.loc ?? operands[0].loc
    }
    loc.inferred = true
    return loc
  }

  /// A binary element-wise op. IR broadcasting only lets operand 1 broadcast to operand 0, so
  /// commutative ops swap their operands and the others broadcast operand 0 explicitly.
  static func elementwise(_ op: OpKind, _ a: Tensor, _ b: Tensor) -> Tensor {
    let loc = inferredLoc(a, b)
    var (lhs, rhs) = (a, b)
    if a.shape != b.shape && !broadcasts(b.shape, to: a.shape) && broadcasts(a.shape, to: b.shape) {
      if op == .add || op == .mul {
        (lhs, rhs) = (b, a)
      } else {
        lhs = session.record(
          .broadcastTo, [a], ["shape": .ints(b.shape)], at: loc,
          fallback: TensorType(.f32, b.shape))
      }
    }
    let bigger = a.rank >= b.rank ? a.shape : b.shape
    return session.record(op, [lhs, rhs], at: loc, fallback: TensorType(.f32, bigger))
  }

  /// `scale(a) {factor}` at an inferred location.
  static func scaled(_ a: Tensor, _ factor: Double) -> Tensor {
    session.record(.scale, [a], ["factor": .float(factor)], at: inferredLoc(a), fallback: a.type)
  }

  /// A scalar constant recorded next to `a`.
  static func scalar(_ value: Double, near a: Tensor) -> Tensor {
    session.record(
      .constant, [], ["data": .floats([Float(value)])], declared: .scalar, at: inferredLoc(a),
      fallback: .scalar)
  }
}
