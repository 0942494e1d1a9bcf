import DinoIR

/// The shape draws and row makers the oracle rows share.

/// A random shape of `rank` extents from `size`, whose element count reaches 2^15 for
/// large draws (so that the element-wise kernels go multi-threaded).
public func randomShape(_ rng: inout TestRNG, _ size: SizeClass, rank: Int) -> [Int] {
  var shape = (0..<rank).map { _ in size == .large ? rng.int(3...9) | 1 : size.extent(&rng) }
  if size == .large, rank > 0 {
    shape[rank - 1] = max(
      shape[rank - 1], (1 << 15) / max(1, shape.dropLast().reduce(1, *)) + 7)
  }
  return shape
}

/// A shape that broadcasts to `big`: same, a suffix, per-row, scalar, a middle run, or
/// an arbitrary pattern of 1s (the strided path).
public func broadcastShape(_ rng: inout TestRNG, to big: [Int]) -> [Int] {
  let r = big.count
  switch rng.int(0...6) {
  case 0: return big
  case 1: return Array(big.suffix(rng.int(0...r)))
  case 2: return big.enumerated().map { $0.offset == r - 1 ? 1 : $0.element }
  case 3: return rng.bool() ? [] : [1]
  case 4:
    let lo = rng.int(0...max(0, r - 1)), hi = rng.int(lo...max(lo, r - 1))
    return big.enumerated().map { (lo...hi).contains($0.offset) ? $0.element : 1 }
  case 5:
    return Array(
      big.enumerated().map { $0.offset % 2 == 0 ? 1 : $0.element }.suffix(rng.int(0...r)))
  default:
    return big.map { _ in rng.bool() ? 1 : 0 }.enumerated().map {
      $0.element == 1 ? 1 : big[$0.offset]
    }
  }
}

/// Rows × cols operands for the ops over the last axis.
public func lastAxisShape(_ rng: inout TestRNG, _ size: SizeClass) -> [Int] {
  switch size {
  case .tiny: return [rng.int(1...3), rng.int(1...5)]
  case .medium: return [rng.int(1...4), rng.int(3...9), rng.int(17...70) | 1]
  case .large: return [rng.int(150...300), rng.int(150...260) | 1]
  }
}

/// Each row's mean and 1/√(var + eps), interleaved: the stats operand of layer_norm_grad.
public func layerNormStats(_ x: [Float], cols d: Int, eps: Double) -> [Float] {
  var stats: [Float] = []
  for r in 0..<(d == 0 ? 0 : x.count / d) {
    let row = x[r * d..<(r + 1) * d].map(Double.init)
    let mean = row.reduce(0, +) / Double(d)
    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
    stats += [Float(mean), Float(1 / (variance + eps).squareRoot())]
  }
  return stats
}

/// A row for an op that maps x (any shape) to a same-shaped result.
func unaryRow(
  _ op: OpKind, fattr: [Float] = [], atol: Float = 1e-5, lo: Float = -1, hi: Float = 1,
  reference: @escaping OracleRow.Reference
) -> OracleRow {
  OracleRow(op, atol: atol, reference: reference) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    return KernelCase(op, [x], out: x, fattr: fattr, rng: &rng) { _, r in r.float(lo, hi) }
  }
}

/// A row over rows of the last axis with `n` same-shaped operands (+ extra vectors).
func rowsRow(
  _ op: OpKind, operands n: Int, vectors: Int = 0, fattr: [Float] = [],
  atol: Float = 1e-5, rtol: Float = 1e-4, outIsVector: Bool = false,
  reference: @escaping OracleRow.Reference,
  fill: @escaping @Sendable (Int, inout TestRNG) -> Float = { _, r in r.float(-1, 1) }
) -> OracleRow {
  OracleRow(op, atol: atol, rtol: rtol, reference: reference) { rng, size in
    let x = lastAxisShape(&rng, size)
    let shapes = Array(repeating: x, count: n) + Array(repeating: [x.last!], count: vectors)
    return KernelCase(
      op, shapes, out: outIsVector ? [x.last!] : x, fattr: fattr, rng: &rng, fill: fill)
  }
}
