import DinoIR

private typealias R = ReferenceInterpreter

/// The shape family: `Reference+Shape.swift` holds the loops.
let shapeOracleRows: [OracleRow] = [
  OracleRow(
    .reshape, reference: { x, a in [ReferenceTensor(shape: a.ints("shape"), data: x[0].data)] }
  ) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let y = rng.bool() ? [x.reduce(1, *)] : Array(x.reversed()) + [1]
    return KernelCase(.reshape, [x], out: y, iattr: y.map(Int64.init), rng: &rng)
  },
  OracleRow(.permute, reference: { x, a in [R.permute(x[0], a.ints("perm"))] }) { rng, size in
    let rank = rng.int(1...6)
    var x = (0..<rank).map { _ in size == .tiny ? rng.int(1...3) : rng.int(1...7) }
    if size == .large { x[rng.int(0...rank - 1)] = (1 << 15) / max(1, x.reduce(1, *)) + 3 }
    var perm = Array(0..<rank)
    perm.shuffle(using: &rng)
    return KernelCase(
      .permute, [x], out: perm.map { x[$0] }, iattr: perm.map(Int64.init), rng: &rng)
  },
  OracleRow(.concat, reference: { x, a in [R.concat(x, axis: a.int("axis"))] }) { rng, size in
    let base = randomShape(&rng, size, rank: rng.int(1...3))
    let axis = rng.int(0...base.count - 1)
    let parts = (0..<rng.int(1...4)).map { _ -> [Int] in
      var s = base
      s[axis] = rng.int(1...(size == .large ? max(1, base[axis]) : 6))
      return s
    }
    var out = base
    out[axis] = parts.map { $0[axis] }.reduce(0, +)
    return KernelCase(.concat, parts, out: out, iattr: [Int64(axis)], rng: &rng)
  },
  OracleRow(
    .slice,
    reference: { x, a in
      [R.slice(x[0], axis: a.int("axis"), start: a.int("start"), end: a.int("end"))]
    }
  ) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let axis = rng.int(0...x.count - 1)
    let start = rng.int(0...x[axis] - 1), end = rng.int(start + 1...x[axis])
    var out = x
    out[axis] = end - start
    return KernelCase(
      .slice, [x], out: out, iattr: [Int64(axis), Int64(start), Int64(end)], rng: &rng)
  },
  OracleRow(
    .pad,
    reference: { x, a in
      [R.pad(x[0], axis: a.int("axis"), before: a.int("before"), after: a.int("after"))]
    }
  ) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let axis = rng.int(0...x.count - 1), before = rng.int(0...3), after = rng.int(0...3)
    var out = x
    out[axis] += before + after
    return KernelCase(
      .pad, [x], out: out, iattr: [Int64(axis), Int64(before), Int64(after)], rng: &rng)
  },
  OracleRow(.broadcastTo, reference: { x, a in [R.broadcast(x[0], to: a.ints("shape"))] }) {
    rng, size in
    let y = randomShape(&rng, size, rank: rng.int(1...4))
    let x = broadcastShape(&rng, to: y)
    return KernelCase(.broadcastTo, [x], out: y, iattr: y.map(Int64.init), rng: &rng)
  },
  OracleRow(.patchify, reference: { x, a in [R.patchify(x[0], patch: a.int("patch"))] }) {
    rng, size in
    let p = rng.int(1...4), c = rng.int(1...3)
    let b = size == .large ? 5 : rng.int(1...2)
    let gh = size == .large ? rng.int(20...31) : rng.int(1...5)
    let gw = size == .large ? rng.int(20...31) : rng.int(1...5)
    return KernelCase(
      .patchify, [[b, c, gh * p, gw * p]], out: [b, gh * gw, c * p * p],
      iattr: [Int64(p)], rng: &rng)
  },
]
