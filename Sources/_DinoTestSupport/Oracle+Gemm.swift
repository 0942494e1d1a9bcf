import DinoIR

private typealias R = ReferenceInterpreter

/// A random `[lead..., in]` × `[out, in]` linear case of `op` (`residual`: a fourth operand
/// of the result's shape; `scale`: a fifth, `[lead[0], 1, ...]`), large draws big enough for
/// the split GEMM.
private func linearCase(
  _ op: OpKind, residual: Bool, scale: Bool = false, _ rng: inout TestRNG, _ size: SizeClass
) -> KernelCase {
  let lead = size == .large ? [rng.int(2...3), rng.int(100...200) | 1] : [size.extent(&rng)]
  let inDim = size.extent(&rng), outDim = size.extent(&rng)
  var shapes = [lead + [inDim], [outDim, inDim], [outDim]]
  if residual { shapes.append(lead + [outDim]) }
  if scale { shapes.append([lead[0]] + Array(repeating: 1, count: lead.count)) }
  return KernelCase(op, shapes, out: lead + [outDim], rng: &rng)
}

/// A random matmul case of `op` (`matmul`, or `matmul_gelu_bwd` with a third operand of the
/// result's shape in GELU's range), batched or not, either operand transposed or not.
private func matmulCase(_ op: OpKind, _ rng: inout TestRNG, _ size: SizeClass) -> KernelCase {
  let ta = rng.bool(), tb = rng.bool(), shared = rng.bool()
  let batch = (0..<rng.int(0...2)).map { _ in rng.int(1...3) }
  let (m, n, k) =
    size == .large
    ? (rng.int(60...200) | 1, rng.int(60...200) | 1, rng.int(30...90) | 1)
    : (size.extent(&rng), size.extent(&rng), size.extent(&rng))
  let a = batch + (ta ? [k, m] : [m, k])
  let bMat = tb ? [n, k] : [k, n]
  var shapes = [a, shared ? bMat : batch + bMat]
  if op == .matmulGeluBwd { shapes.append(batch + [m, n]) }
  return KernelCase(
    op, shapes, out: batch + [m, n], iattr: [ta ? 1 : 0, tb ? 1 : 0], rng: &rng
  ) { i, r in i == 2 ? r.float(-6, 6) : r.float(-1, 1) }
}

/// `matmul(a, b) {trans_a, trans_b}` of the reference interpreter.
private func referenceMatmul(_ x: [ReferenceTensor], _ a: Attributes) -> ReferenceTensor {
  R.matmul(x[0], x[1], transA: a.int("trans_a") != 0, transB: a.int("trans_b") != 0)
}

/// The GEMM family: `Reference+Gemm.swift` holds the loops.
let gemmOracleRows: [OracleRow] = [
  OracleRow(.matmul, atol: 1e-4, rtol: 1e-4, reference: { x, a in [referenceMatmul(x, a)] }) {
    rng, size in matmulCase(.matmul, &rng, size)
  },
  OracleRow(
    .matmulGeluBwd, atol: 1e-4, rtol: 1e-4,
    reference: { x, a in [R.geluBwd(referenceMatmul(x, a), x[2])] }
  ) { rng, size in matmulCase(.matmulGeluBwd, &rng, size) },
  OracleRow(.linear, atol: 1e-4, rtol: 1e-4, reference: { x, _ in [R.linear(x[0], x[1], x[2])] }) {
    rng, size in linearCase(.linear, residual: false, &rng, size)
  },
  OracleRow(
    .linearGelu, atol: 1e-4, rtol: 1e-4,
    reference: { x, _ in
      let h = R.linear(x[0], x[1], x[2])
      return [R.map(h, R.gelu), h]
    }
  ) { rng, size in
    var c = linearCase(.linearGelu, residual: false, &rng, size)
    c.extraOuts = [c.out]
    return c
  },
  OracleRow(
    .linearResidual, atol: 1e-4, rtol: 1e-4,
    reference: { x, _ in [R.broadcastBinary(R.linear(x[0], x[1], x[2]), x[3], +)] }
  ) { rng, size in linearCase(.linearResidual, residual: true, &rng, size) },
  OracleRow(
    .linearResidualScaled, atol: 1e-4, rtol: 1e-4,
    reference: { x, _ in
      let scaled = R.broadcastBinary(R.linear(x[0], x[1], x[2]), x[4], *)
      return [R.broadcastBinary(scaled, x[3], +)]
    }
  ) { rng, size in linearCase(.linearResidualScaled, residual: true, scale: true, &rng, size) },
  OracleRow(
    .linearGeluOnly, atol: 1e-4, rtol: 1e-4,
    reference: { x, _ in [R.map(R.linear(x[0], x[1], x[2]), R.gelu)] }
  ) { rng, size in linearCase(.linearGeluOnly, residual: false, &rng, size) },
  OracleRow(
    .patchEmbed, atol: 1e-4, rtol: 1e-4,
    reference: { x, a in [R.patchEmbed(x[0], x[1], x[2], patch: a.int("patch"))] }
  ) { rng, size in
    let p = rng.int(1...5), c = rng.int(1...3)
    let b = size == .large ? 3 : rng.int(1...2)
    let gh = size == .large ? rng.int(9...15) : size.extent(&rng) % 9 + 1
    let gw = size == .large ? rng.int(9...15) : rng.int(1...5)
    let d = size == .large ? rng.int(60...99) : size.extent(&rng)
    return KernelCase(
      .patchEmbed, [[b, c, gh * p, gw * p], [d, c, p, p], [d]],
      out: [b, gh * gw, d], iattr: [Int64(p)], rng: &rng)
  },
]
