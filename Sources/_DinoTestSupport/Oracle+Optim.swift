import DinoIR

private typealias R = ReferenceInterpreter

/// A random segment table for `adamw_flat` / `ema_flat`: 1–6 segments in ascending order
/// with gaps between them (elements the ops must leave alone), each with its own step
/// count index (in shuffled order), decay and gate flags; sized by `size` so large draws
/// run multi-threaded.
private func flatSegmentTable(_ rng: inout TestRNG, _ size: SizeClass)
  -> (table: [Float], rows: Int, elements: Int, steps: Int)
{
  let rows = rng.int(1...6)
  var table: [Float] = []
  var offset = rng.int(0...3)
  let steps = Array(0..<rows).shuffled(using: &rng)
  for row in 0..<rows {
    let count = randomShape(&rng, size, rank: 1)[0]
    table += [0, Float(offset), 0, Float(count), 0, Float(steps[row])]
    table += [Float(rng.int(0...1)), Float(rng.int(0...1))]
    offset += count + rng.int(0...5)
  }
  return (table, rows, offset + rng.int(0...3), rows + 1)
}

/// The optimiser family (effect ops: their references return the mutated operands'
/// new values): `Reference+Optim.swift` holds the loops.
let optimOracleRows: [OracleRow] = [
  OracleRow(
    .clipGradCoef,
    reference: { x, a in
      [ReferenceTensor(scalar: R.clipGradCoef(x[0], maxNorm: a.float("max_norm")))]
    }
  ) { rng, size in
    let g = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(
      .clipGradCoef, [g], out: [], fattr: [rng.pick([Float(0.1), 3, 1e6])], rng: &rng)
  },
  OracleRow(
    .adamwUpdate,
    reference: { x, a in
      let state = R.adamw(
        p: x[0], g: x[1], m: x[2], v: x[3], t: x[4], lr: x[5].data[0], wd: x[6].data[0],
        gate: x[7].data[0], beta1: a.float("beta1"), beta2: a.float("beta2"),
        eps: a.float("eps"), decay: Double(a.int("decay")))
      return [state.p, state.m, state.v, state.t]
    }
  ) { rng, size in
    let p = randomShape(&rng, size, rank: rng.int(1...2))
    let step = Float(rng.int(0...5)), gate: Float = rng.int(0...3) == 0 ? 0 : 1
    return KernelCase(
      .adamwUpdate, [p, p, p, p, [], [], [], []], out: [],
      iattr: [Int64(rng.int(0...1))], fattr: [0.9, 0.999, 1e-8], rng: &rng
    ) { i, r in
      switch i {
      case 3: return r.float(0, 0.01)  // v ≥ 0
      case 4: return step
      case 5: return 1e-3
      case 6: return 0.04
      case 7: return gate
      default: return r.float(-1, 1)
      }
    }
  },
  OracleRow(
    .emaUpdate,
    reference: { x, _ in [R.ema(teacher: x[0], student: x[1], momentum: x[2].data[0])] }
  ) { rng, size in
    let t = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.emaUpdate, [t, t, []], out: [], rng: &rng) { i, r in
      i == 2 ? 0.996 : r.float(-1, 1)
    }
  },
  OracleRow(.assign, reference: { x, _ in [x[1]] }) { rng, size in
    let t = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.assign, [t, t], out: [], rng: &rng)
  },
  OracleRow(
    .adamwFlat,
    reference: { x, a in
      let state = try R.adamwFlat(
        p: x[0], g: x[1], m: x[2], v: x[3], steps: x[4], lr: x[5].data[0], wd: x[6].data[0],
        gate: x[7].data[0], table: x[8], maxNorm: a.float("max_norm"), beta1: a.float("beta1"),
        beta2: a.float("beta2"), eps: a.float("eps"))
      return [state.p, state.m, state.v, state.steps]
    }
  ) { rng, size in
    let segments = flatSegmentTable(&rng, size)
    let gate: Float = rng.int(0...2) == 0 ? 0 : 1
    let maxNorm: Float = rng.pick([Float(0), 0.05, 3])
    let n = segments.elements
    var c = KernelCase(
      .adamwFlat, [[n], [n], [n], [n], [segments.steps], [], [], [], [segments.rows, 8]],
      out: [], fattr: [maxNorm, 0.9, 0.999, 1e-8], rng: &rng
    ) { i, r in
      switch i {
      case 3: return r.float(0, 0.01)  // v ≥ 0
      case 4: return Float(r.int(0...5))  // step counts
      case 5: return 1e-3
      case 6: return 0.04
      case 7: return gate
      default: return r.float(-1, 1)
      }
    }
    c.data[8] = segments.table
    return c
  },
  OracleRow(
    .emaFlat,
    reference: { x, _ in
      [try R.emaFlat(teacher: x[0], student: x[1], momentum: x[2].data[0], table: x[3])]
    }
  ) { rng, size in
    let segments = flatSegmentTable(&rng, size)
    var c = KernelCase(
      .emaFlat, [[segments.elements], [segments.elements], [], [segments.rows, 8]], out: [],
      rng: &rng
    ) { i, r in i == 2 ? 0.996 : r.float(-1, 1) }
    c.data[3] = segments.table
    return c
  },
]
