import DinoIR

private typealias R = ReferenceInterpreter

/// The softmax family: `Reference+Softmax.swift` holds the loops.
let softmaxOracleRows: [OracleRow] = [
  rowsRow(.softmax, operands: 1, reference: { x, _ in [R.softmax(x[0])] }) { _, r in
    r.float(-8, 8)
  },
  rowsRow(.softmaxBwd, operands: 2, reference: { x, _ in [R.softmaxBwd(x[0], x[1])] }) {
    i, r in i == 0 ? r.float(-1, 1) : r.float(0, 1)
  },
  rowsRow(.logSoftmax, operands: 1, reference: { x, _ in [R.logSoftmax(x[0])] }) { _, r in
    r.float(-8, 8)
  },
  rowsRow(.logSoftmaxBwd, operands: 2, reference: { x, _ in [R.logSoftmaxBwd(x[0], x[1])] }) {
    i, r in i == 0 ? r.float(-1, 1) : r.float(-6, 0)
  },
]

/// DINO's cross-entropy and its closed-form gradient: `Reference+DINOLoss.swift` holds the
/// loops.
let dinoLossOracleRows: [OracleRow] = [
  OracleRow(
    .dinoCrossEntropy, atol: 2e-5,
    reference: { x, a in
      [R.dinoCrossEntropy(x[0], x[1], views: a.int("views"), scale: a.float("scale"))]
    }
  ) { rng, size in dinoLossCase(.dinoCrossEntropy, &rng, size) },
  OracleRow(
    .dinoCrossEntropyBwd,
    reference: { x, a in
      [R.dinoCrossEntropyBwd(x[0], x[1], x[2], views: a.int("views"), scale: a.float("scale"))]
    }
  ) { rng, size in dinoLossCase(.dinoCrossEntropyBwd, &rng, size) },
]

/// A case of the DINO loss (or its backward): B images (1 among tiny draws), V views (2:
/// only the global ones, or more with locals), K odd for medium and large draws; large
/// draws have K past the kernel's 2048-element chunk and enough rows for the threaded
/// path. Student logits in [−2, 2] under a scale of 10 (τs = 0.1), 1 or 2.5; the teacher
/// rows are exact dyadic probabilities (w_k / 2^m, Σ w_k = 2^m), so they sum to 1 in Float
/// and in Double and the closed-form gradient is the exact one.
func dinoLossCase(_ op: OpKind, _ rng: inout TestRNG, _ size: SizeClass) -> KernelCase {
  let (batch, views, k): (Int, Int, Int)
  switch size {
  case .tiny: (batch, views, k) = (rng.int(1...3), rng.int(2...3), rng.int(1...5))
  case .medium: (batch, views, k) = (rng.int(1...4), rng.int(2...5), size.extent(&rng))
  case .large: (batch, views, k) = (rng.int(4...6), rng.int(4...6), rng.int(2100...2600) | 1)
  }
  let scale = rng.pick([Float(10), 1, 2.5])
  let student = [views * batch, k], teacher = [2 * batch, k]
  let shapes = op == .dinoCrossEntropy ? [student, teacher] : [[], student, teacher]
  let first = op == .dinoCrossEntropy ? 0 : 1
  var c = KernelCase(
    op, shapes, out: op == .dinoCrossEntropy ? [] : student, iattr: [Int64(views)],
    fattr: [scale], rng: &rng
  ) { i, r in i == first ? r.float(-2, 2) : r.float(-1, 1) }
  var total = 1
  while total < 4 * k { total *= 2 }
  for row in 0..<(2 * batch) {
    var weights = [Int](repeating: 1, count: k)
    for _ in 0..<(total - k) { weights[rng.int(0...(k - 1))] += 1 }
    for i in 0..<k { c.data[first + 1][row * k + i] = Float(weights[i]) / Float(total) }
  }
  return c
}
