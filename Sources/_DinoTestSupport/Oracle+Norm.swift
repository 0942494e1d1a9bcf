import DinoIR

private typealias R = ReferenceInterpreter

/// A weight-norm row: operands (dW?) v [K,C], g [K,1].
private func weightNormRow(
  _ op: OpKind, hasDW: Bool, hasG: Bool, outIsG: Bool, reference: @escaping OracleRow.Reference
) -> OracleRow {
  OracleRow(op, reference: reference) { rng, size in
    let k = size == .large ? rng.int(200...400) : size.extent(&rng)
    let c = size == .large ? rng.int(150...257) | 1 : size.extent(&rng) + 1
    var shapes: [[Int]] = hasDW ? [[k, c], [k, c]] : [[k, c]]
    if hasG { shapes.append([k, 1]) }
    return KernelCase(op, shapes, out: outIsG ? [k, 1] : [k, c], rng: &rng)
  }
}

/// Values around 0.5: offset rows exercise the two-pass variance.
private let offset: @Sendable (Int, inout TestRNG) -> Float = { _, r in r.float(-1, 1) + 0.5 }

/// The normalisation family: `Reference+Norm.swift` and `Reference+FusedNorm.swift` hold
/// the loops. The backward ops use eps = 1e-2 because their result cancels (exactly, for 2
/// columns), so float error grows with rstd².
let normOracleRows: [OracleRow] = [
  rowsRow(
    .layerNorm, operands: 1, vectors: 2, fattr: [1e-6], atol: 2e-5,
    reference: { x, a in [R.layerNorm(x[0], x[1], x[2], eps: a.float("eps"))] }, fill: offset),
  rowsRow(
    .layerNormBwd, operands: 2, vectors: 1, fattr: [1e-2], atol: 2e-5,
    reference: { x, a in [R.layerNormBwd(x[0], x[1], x[2], eps: a.float("eps"))] },
    fill: offset),
  rowsRow(
    .layerNormBwdGamma, operands: 2, fattr: [1e-2], atol: 1e-4, outIsVector: true,
    reference: { x, a in [R.layerNormBwdGamma(x[0], x[1], eps: a.float("eps"))] },
    fill: offset),
  OracleRow(
    .layerNormTrain, atol: 2e-5,
    reference: { x, a in
      let (y, stats) = R.layerNormTrain(x[0], x[1], x[2], eps: a.float("eps"))
      return [y, stats]
    }
  ) { rng, size in
    let x = lastAxisShape(&rng, size)
    var c = KernelCase(
      .layerNormTrain, [x, [x.last!], [x.last!]], out: x, fattr: [1e-6], rng: &rng, fill: offset)
    c.extraOuts = [Array(x.dropLast()) + [2]]
    return c
  },
  OracleRow(
    .layerNormGrad, atol: 1e-4,
    reference: { x, _ in
      let (dx, dgamma, dbeta) = R.layerNormGrad(x[0], x[1], x[2], x[3])
      return [dx, dgamma, dbeta]
    }
  ) { rng, size in
    let x = lastAxisShape(&rng, size)
    let d = x.last!
    var c = KernelCase(
      .layerNormGrad, [x, x, Array(x.dropLast()) + [2], [d]], out: x, rng: &rng, fill: offset)
    c.data[2] = layerNormStats(c.data[1], cols: d, eps: 1e-2)
    c.extraOuts = [[d], [d]]
    return c
  },
  // A zero row takes the eps branch: the kernel test wants it, finite differences not.
  OracleRow(
    .l2Normalize, reference: { x, a in [R.l2Normalize(x[0], eps: a.float("eps"))] },
    gradient: { rng in
      let x = lastAxisShape(&rng, .tiny)
      return KernelCase(.l2Normalize, [x], out: x, fattr: [1e-6], rng: &rng)
    }
  ) { rng, size in
    let x = lastAxisShape(&rng, size)
    let zeroRow = rng.int(0...x.dropLast().reduce(1, *) - 1)
    return KernelCase(.l2Normalize, [x], out: x, fattr: [1e-6], rng: &rng)
      .zeroingRow(zeroRow, of: 0, cols: x.last!)
  },
  OracleRow(
    .l2NormalizeBwd, atol: 1e-4,
    reference: { x, a in [R.l2NormalizeBwd(x[0], x[1], eps: a.float("eps"))] }
  ) { rng, size in
    let x = lastAxisShape(&rng, size)
    let zeroRow = rng.int(0...x.dropLast().reduce(1, *) - 1)
    return KernelCase(.l2NormalizeBwd, [x, x], out: x, fattr: [1e-2], rng: &rng)
      .zeroingRow(zeroRow, of: 1, cols: x.last!)
  },
  weightNormRow(.weightNorm, hasDW: false, hasG: true, outIsG: false) { x, _ in
    [R.weightNorm(x[0], x[1])]
  },
  weightNormRow(.weightNormBwdV, hasDW: true, hasG: true, outIsG: false) { x, _ in
    [R.weightNormBwdV(x[0], x[1], x[2])]
  },
  weightNormRow(.weightNormBwdG, hasDW: true, hasG: false, outIsG: true) { x, _ in
    [R.weightNormBwdG(x[0], x[1])]
  },
]
