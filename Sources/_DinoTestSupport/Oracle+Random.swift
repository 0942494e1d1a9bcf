import DinoIR

private typealias R = ReferenceInterpreter

/// The random family: `Reference+Optim.swift` holds the counter-based mask.
let randomOracleRows: [OracleRow] = [
  OracleRow(
    .dropPathMask, atol: 0, rtol: 0,
    reference: { x, a in
      guard let seed = Int32(exactly: x[0].data[0]) else {
        throw ReferenceError("seed \(x[0].data[0]) is not an i32 value")
      }
      return [
        R.dropPathMask(
          seed: seed, rate: a.float("rate"), stream: a.int("stream"), batch: a.int("batch"))
      ]
    }
  ) { rng, size in
    let batch = size == .large ? 5000 : size.extent(&rng)
    let rate = rng.pick([Float(0), 0.1, 0.5, 0.9])
    let seed = Int32(truncatingIfNeeded: rng.next())
    var c = KernelCase(
      .dropPathMask, [[]], out: [batch], iattr: [Int64(rng.int(0...40)), Int64(batch)],
      fattr: [rate], rng: &rng
    ) { _, _ in Float(bitPattern: UInt32(bitPattern: seed)) }
    c.int32Operands = [0]
    return c
  }
]
