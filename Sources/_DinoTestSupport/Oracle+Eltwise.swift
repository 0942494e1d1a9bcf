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
  eltwiseChainOracleRow,
]

/// The `eltwise_chain` row: a random program of 1 to 8 steps over 1 to 4 operands (operand
/// 0 in [-1, 1], the others broadcast to it with values in [0.5, 1.5], so divisions and
/// logarithms stay well defined) and four random scale factors, the reference running its
/// steps in Double.
let eltwiseChainOracleRow = OracleRow(
  .eltwiseChain, atol: 1e-4, rtol: 1e-4,
  reference: { x, attrs in [try R.eltwiseChain(x, attrs)] }
) { rng, size in
  let out = randomShape(&rng, size, rank: rng.int(1...4))
  let operands = rng.int(1...4)
  let shapes = [out] + (1..<operands).map { _ in broadcastShape(&rng, to: out) }
  let program = randomEltwiseProgram(&rng, operands: operands)
  let factors = (0..<4).map { _ in rng.float(-2, 2) }
  return KernelCase(
    .eltwiseChain, shapes, out: out, iattr: program.encoded.map(Int64.init), fattr: factors,
    rng: &rng
  ) { i, r in i == 0 ? r.float(-1, 1) : r.float(0.5, 1.5) }
}

/// A program reading each of `operands` operands: a chain from operand 0 whose steps mix in
/// the positive operands 1… (add, sub, mul, div), scales by factor0…3, GELU, its backward,
/// and the exp of operand 0 or the log of a positive one joined back by a mul or add (a
/// tree).
public func randomEltwiseProgram(_ rng: inout TestRNG, operands: Int) -> EltwiseProgram {
  typealias Ref = EltwiseProgram.Ref
  var steps: [EltwiseProgram.Step] = []
  var current = Ref.operand(0)
  var unread = Set(1..<operands)
  func positive(_ rng: inout TestRNG) -> Ref {
    operands == 1 ? .operand(0) : .operand(rng.int(1...operands - 1))
  }
  func push(_ step: EltwiseProgram.Step) {
    for case .operand(let i) in [step.a] + (step.b.map { [$0] } ?? []) { unread.remove(i) }
    steps.append(step)
    current = .step(steps.count - 1)
  }
  let length = rng.int(1...EltwiseProgram.maxSteps - operands)  // + 1 pair, + unread
  while steps.count < length {
    let other = positive(&rng)
    switch rng.int(0...8) {
    case 8: push(.init(.scale, current, factor: rng.int(0...3)))
    case 0: push(.init(.add, current, other))
    case 1: push(.init(.sub, current, other))
    case 2: push(.init(.mul, current, other))
    case 3 where operands > 1: push(.init(.div, current, other))
    case 4: push(.init(.gelu, current))
    case 5: push(.init(.geluBwd, current, .operand(0)))
    case 6 where steps.count + 2 <= length && operands > 1:
      let base = current
      push(.init(.log, other))
      push(.init(.add, base, current))
    default:
      let base = current
      push(.init(.exp, .operand(0)))
      push(.init(.mul, base, current))
    }
  }
  for i in unread.sorted() { push(.init(.add, current, .operand(i))) }
  return EltwiseProgram(steps: steps)
}
