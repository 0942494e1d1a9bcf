import DinoIR

private typealias R = ReferenceInterpreter

/// M, N, K of a weight-normalised linear case: odd M up to 33, N of 7, 100 or 4099
/// prototypes, K of 5, 64 or 256 (tiny: extents 1–5).
private func linearWeightNormSizes(_ rng: inout TestRNG, _ size: SizeClass) -> (Int, Int, Int) {
  switch size {
  case .tiny: return (size.extent(&rng), size.extent(&rng), size.extent(&rng))
  case .medium: return (rng.int(1...33), rng.pick([7, 100]), rng.pick([5, 64]))
  case .large: return (rng.int(1...33), 4099, rng.pick([64, 256]))
  }
}

/// Operand data: g in [0.5, 1.5] (a magnitude), everything else in [-1, 1].
private func magnitudes(g: Int) -> (Int, inout TestRNG) -> Float {
  { i, r in i == g ? r.float(0.5, 1.5) : r.float(-1, 1) }
}

/// The results of `linear_weight_norm_bwd(dy, x, v, g) {grad_g}` from the unfused ops:
/// dx = matmul(dy, W), G = matmul(dy, x) {trans_a}, dv = weight_norm_bwd_v(G, v, g) and, with
/// `gradG`, dg = weight_norm_bwd_g(G, v).
private func referenceLinearWeightNormBwd(
  _ x: [ReferenceTensor], gradG: Bool
) -> [ReferenceTensor] {
  let w = R.weightNorm(x[2], x[3])
  let dx = R.matmul(x[0], w, transA: false, transB: false)
  let dW = R.matmul(x[0], x[1], transA: true, transB: false)
  return [dx, R.weightNormBwdV(dW, x[2], x[3])] + (gradG ? [R.weightNormBwdG(dW, x[2])] : [])
}

/// The weight-normalised linear layer's fused GEMMs (gemm family; kernels in
/// `linear_weight_norm.c`), against `weight_norm` and `matmul` in Double.
let linearWeightNormOracleRows: [OracleRow] = [
  OracleRow(
    .linearWeightNorm, atol: 1e-4, rtol: 1e-4,
    reference: { x, _ in [R.matmul(x[0], R.weightNorm(x[1], x[2]), transA: false, transB: true)] }
  ) { rng, size in
    let (m, n, k) = linearWeightNormSizes(&rng, size)
    return KernelCase(
      .linearWeightNorm, [[m, k], [n, k], [n, 1]], out: [m, n], rng: &rng, fill: magnitudes(g: 2))
  },
  OracleRow(
    .linearWeightNormBwd, atol: 1e-4, rtol: 1e-4,
    reference: { x, a in referenceLinearWeightNormBwd(x, gradG: a.int("grad_g") != 0) }
  ) { rng, size in
    let (m, n, k) = linearWeightNormSizes(&rng, size)
    let gradG = rng.bool()
    var c = KernelCase(
      .linearWeightNormBwd, [[m, n], [m, k], [n, k], [n, 1]], out: [m, k],
      iattr: [gradG ? 1 : 0], rng: &rng, fill: magnitudes(g: 3))
    c.extraOuts = [[n, k]] + (gradG ? [[n, 1]] : [])
    return c
  },
]
