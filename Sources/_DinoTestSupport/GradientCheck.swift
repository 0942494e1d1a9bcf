import DinoIR

/// Finite-difference gradients of a scalar program output, in Double through the reference
/// interpreter, and the ccv-style comparison (relative norm error and cosine) against an
/// analytic gradient.
public enum GradientCheck {
  /// The finite-difference formula.
  public enum Stencil: Sendable {
    /// (f(x+h) − f(x−h)) / 2h: error O(h²).
    case central
    /// (−f(x+2h) + 8f(x+h) − 8f(x−h) + f(x−2h)) / 12h: error O(h⁴).
    case fourPoint
  }

  /// The value of the scalar output `output` of `program`; effect ops act on a copy of
  /// `buffers`.
  /// - Throws: `ReferenceError` when the run fails or the output is missing or not one value.
  public static func scalarOutput(
    program: Program, output: String, inputs: [String: ReferenceTensor],
    buffers: [String: ReferenceTensor]
  ) throws(ReferenceError) -> Double {
    var scratch = buffers
    let outputs = try ReferenceInterpreter.run(program, inputs: inputs, buffers: &scratch)
    guard let value = outputs[output] else {
      throw ReferenceError("@\(program.name) has no output '\(output)'")
    }
    guard let scalar = value.scalar else {
      throw ReferenceError(
        "output '\(output)' of @\(program.name) has shape \(shapeText(value.shape)), not one value")
    }
    return scalar
  }

  /// The numeric gradient of the scalar output `output` with respect to each name in `wrt`.
  ///
  /// Each name is looked up in `buffers` first, then in `inputs`; each of its elements is
  /// perturbed by ±eps (and ±2·eps for `.fourPoint`) and the program re-run.
  /// - Throws: `ReferenceError` for a name in neither dictionary or a failing run.
  public static func numericGradient(
    program: Program, output: String, wrt: [String], inputs: [String: ReferenceTensor],
    buffers: [String: ReferenceTensor], eps: Double = 1e-4, stencil: Stencil = .fourPoint
  ) throws(ReferenceError) -> [String: ReferenceTensor] {
    var gradients: [String: ReferenceTensor] = [:]
    for name in wrt {
      let inBuffers = buffers[name] != nil
      guard let base = buffers[name] ?? inputs[name] else {
        throw ReferenceError("gradient check: '\(name)' is neither a buffer nor an input")
      }
      func f(_ index: Int, _ delta: Double) throws(ReferenceError) -> Double {
        var moved = base
        moved.data[index] += delta
        var b = buffers
        var i = inputs
        if inBuffers { b[name] = moved } else { i[name] = moved }
        return try scalarOutput(program: program, output: output, inputs: i, buffers: b)
      }
      var gradient = ReferenceTensor(shape: base.shape)
      for index in 0..<base.count {
        switch stencil {
        case .central:
          gradient.data[index] = (try f(index, eps) - f(index, -eps)) / (2 * eps)
        case .fourPoint:
          let near = try f(index, eps) - f(index, -eps)
          let far = try f(index, 2 * eps) - f(index, -2 * eps)
          gradient.data[index] = (8 * near - far) / (12 * eps)
        }
      }
      gradients[name] = gradient
    }
    return gradients
  }

  /// Compares an analytic gradient with a numeric one.
  ///
  /// - Returns: `relError` = ‖a − n‖ / max(‖a‖, ‖n‖) (0 when both are zero) and `cosine` =
  ///   a·n / (‖a‖‖n‖) (1 when both are zero, 0 when only one is); `(∞, 0)` when the shapes
  ///   differ, NaN when either side holds a NaN.
  public static func compare(
    _ analytic: ReferenceTensor, _ numeric: ReferenceTensor
  ) -> (relError: Double, cosine: Double) {
    guard analytic.shape == numeric.shape else { return (.infinity, 0) }
    var difference = 0.0
    var dot = 0.0
    for (a, n) in zip(analytic.data, numeric.data) {
      difference += (a - n) * (a - n)
      dot += a * n
    }
    let normA = analytic.norm
    let normN = numeric.norm
    if normA.isNaN || normN.isNaN { return (.nan, .nan) }
    if normA == 0 && normN == 0 { return (0, 1) }
    let relError = difference.squareRoot() / max(normA, normN)
    let cosine = normA == 0 || normN == 0 ? 0 : dot / (normA * normN)
    return (relError, cosine)
  }

  /// Compares every entry of `numeric` with the entry of `analytic` of the same name.
  /// - Returns: one line per name whose relative error exceeds `maxRelError` or whose cosine
  ///   is below `minCosine` (or which `analytic` lacks); empty when all agree.
  public static func mismatches(
    analytic: [String: ReferenceTensor], numeric: [String: ReferenceTensor],
    maxRelError: Double = 1e-6, minCosine: Double = 1 - 1e-9
  ) -> [String] {
    var lines: [String] = []
    for name in numeric.keys.sorted() {
      guard let a = analytic[name], let n = numeric[name] else {
        lines.append("\(name): no analytic gradient")
        continue
      }
      let (relError, cosine) = compare(a, n)
      if !(relError <= maxRelError && cosine >= minCosine) {
        lines.append("\(name): relative error \(relError), cosine \(cosine)")
      }
    }
    return lines
  }
}
