import DinoIR

private typealias R = ReferenceInterpreter

/// A reduce_sum / reduce_mean row over a random axis, with and without keepdims.
private func reduceRow(_ op: OpKind, mean: Bool) -> OracleRow {
  OracleRow(
    op, atol: 1e-4, rtol: 1e-4,
    reference: { x, a in
      [R.reduce(x[0], axis: a.int("axis"), keepdims: a.int("keepdims") != 0, mean: mean)]
    }
  ) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let axis = rng.int(0...x.count - 1), keep = rng.bool()
    var out = x
    if keep { out[axis] = 1 } else { out.remove(at: axis) }
    return KernelCase(op, [x], out: out, iattr: [Int64(axis), keep ? 1 : 0], rng: &rng)
  }
}

/// The reduction family: `Reference+Reduce.swift` holds the loops.
let reduceOracleRows: [OracleRow] = [
  reduceRow(.reduceSum, mean: false),
  reduceRow(.reduceMean, mean: true),
  OracleRow(
    .sumTo, atol: 1e-4, rtol: 1e-4, reference: { x, a in [R.sum(x[0], to: a.ints("shape"))] }
  ) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    var y = broadcastShape(&rng, to: x)
    if size == .large && rng.bool() { y = [x.last!] }  // a bias gradient: blocked partials
    return KernelCase(.sumTo, [x], out: y, iattr: y.map(Int64.init), rng: &rng)
  },
  // A process alone (no communicator registered): the identity.
  OracleRow(.allReduceSum, atol: 0, rtol: 0, reference: { x, _ in [x[0]] }) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(0...4))
    return KernelCase(.allReduceSum, [x], out: x, rng: &rng)
  },
]
