import DinoOps

// Effect ops update a parameter's buffer in place and return a dummy `f32[]`. The compiler's
// passes normally create them (optimiser lowering, the EMA program); they are here for
// programs written by hand.

/// `min(1, maxNorm / (‖g‖₂ + 1e-6))`, the clipping coefficient of a gradient.
/// - Parameters:
///   - g: the gradient.
///   - maxNorm: the largest norm kept.
/// - Returns: an `f32[]` coefficient.
public func clipGradCoef(
  _ g: Tensor, maxNorm: Double, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .clipGradCoef, [g], ["max_norm": .float(maxNorm)], at: session.userLoc(file, line, column),
    fallback: .scalar)
}

/// `target = value` for a parameter `target`.
/// - Parameters:
///   - target: a parameter's value (`p.value`).
///   - value: a tensor of its shape.
/// - Returns: the dummy `f32[]` result.
@discardableResult
public func assign(
  _ target: Tensor, _ value: Tensor,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  effect(.assign, [target, value], at: session.userLoc(file, line, column))
}

/// `target = momentum · target + (1 − momentum) · source`, for a parameter `target`.
/// - Parameters:
///   - target: the teacher parameter's value.
///   - source: the student parameter's value.
///   - momentum: an `f32[]` tensor.
/// - Returns: the dummy `f32[]` result.
@discardableResult
public func emaUpdate(
  _ target: Tensor, _ source: Tensor, momentum: Tensor,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  effect(.emaUpdate, [target, source, momentum], at: session.userLoc(file, line, column))
}

/// One AdamW step of parameter `p` with gradient `g`, moments `m`, `v` and step count `t`
/// (all parameters), when `gate` ≠ 0 (see DESIGN: `adamw_update`).
/// - Parameters:
///   - p: the parameter.
///   - g: its gradient.
///   - m: first moment (parameter).
///   - v: second moment (parameter).
///   - t: step count `f32[]` (parameter).
///   - lr: learning rate `f32[]`.
///   - wd: weight decay `f32[]`.
///   - gate: `f32[]`; 0 skips the update.
///   - beta1: first-moment decay.
///   - beta2: second-moment decay.
///   - eps: denominator epsilon.
///   - decay: whether weight decay applies to `p`.
/// - Returns: the dummy `f32[]` result.
@discardableResult
public func adamwUpdate(
  _ p: Tensor, grad g: Tensor, m: Tensor, v: Tensor, step t: Tensor, lr: Tensor, wd: Tensor,
  gate: Tensor, beta1: Double = 0.9, beta2: Double = 0.999, eps: Double = 1e-8, decay: Bool = true,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  effect(
    .adamwUpdate, [p, g, m, v, t, lr, wd, gate],
    [
      "beta1": .float(beta1), "beta2": .float(beta2), "eps": .float(eps),
      "decay": .int(decay ? 1 : 0),
    ],
    at: session.userLoc(file, line, column))
}

private func effect(
  _ op: OpKind, _ operands: [Tensor], _ attrs: Attributes = [:], at loc: SourceLoc
) -> Tensor {
  if let program = session.program {
    for m in op.mutatedOperands where operands[m].isValid && operands[m].program == program.id {
      if program.nodes[operands[m].index].op != OpKind.parameter.name {
        session.error(
          "\(op.name): operand \(m) must be a parameter (it is updated in place)", at: loc)
        return session.invalid([], at: loc)
      }
    }
  }
  return session.record(op, operands, attrs, at: loc, fallback: .scalar)
}
