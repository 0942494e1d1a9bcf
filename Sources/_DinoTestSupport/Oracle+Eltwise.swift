import Foundation
import DinoIR

private typealias R = ReferenceInterpreter

/// A uniform binary-op row (add/sub/mul/div) with broadcasting variants.
private func binaryRow(
  _ op: OpKind, divisor: Bool = false, _ f: @escaping @Sendable (Double, Double) -> Double
) -> OracleRow {
  OracleRow(op, reference: { x, _ in [R.broadcastBinary(x[0], x[1], f)] }) { rng, size in
    let a = randomShape(&rng, size, rank: rng.int(1...4))
    let b = broadcastShape(&rng, to: a)
    return KernelCase(op, [a, b], out: a, rng: &rng) { i, r in
      divisor && i == 1 ? r.float(0.5, 1.5) * (r.bool() ? 1 : -1) : r.float(-1, 1)
    }
  }
}

/// The element-wise family: `Reference+Eltwise.swift` holds the loops.
let eltwiseOracleRows: [OracleRow] = [
  binaryRow(.add, +),
  binaryRow(.sub, -),
  binaryRow(.mul, *),
  binaryRow(.div, divisor: true, /),
  unaryRow(.scale, fattr: [-1.75]) { x, a in
    let factor = a.float("factor")
    return [R.map(x[0]) { $0 * factor }]
  },
  unaryRow(.gelu, atol: 1e-6, lo: -6, hi: 6) { x, _ in [R.map(x[0], R.gelu)] },
  unaryRow(.log, atol: 1e-6, lo: 0.25, hi: 4) { x, _ in [R.map(x[0]) { Foundation.log($0) }] },
  unaryRow(.exp, atol: 1e-6, lo: -4, hi: 2) { x, _ in [R.map(x[0]) { Foundation.exp($0) }] },
  OracleRow(.geluBwd, atol: 1e-6, reference: { x, _ in [R.geluBwd(x[0], x[1])] }) {
    rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.geluBwd, [x, x], out: x, rng: &rng) { i, r in
      i == 0 ? r.float(-1, 1) : r.float(-6, 6)
    }
  },
]
