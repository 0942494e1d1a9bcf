import CDinoKernels

/// One row per op: how to draw a random case of it, and the tolerance against ref/.
struct KernelRow: Sendable {
  var op: dino_op
  var atol: Float = 1e-5
  var rtol: Float = 1e-4
  var make: @Sendable (inout TestRNG, SizeClass) -> KernelCase
}

/// A random shape of `rank` extents from `size`, whose element count reaches 2^15 for
/// large draws (so that the element-wise kernels go multi-threaded).
func randomShape(_ rng: inout TestRNG, _ size: SizeClass, rank: Int) -> [Int] {
  var shape = (0..<rank).map { _ in size == .large ? rng.int(3...9) | 1 : size.extent(&rng) }
  if size == .large, rank > 0 { shape[rank - 1] = max(shape[rank - 1], (1 << 15) / max(1, shape.dropLast().reduce(1, *)) + 7) }
  return shape
}

/// A shape that broadcasts to `big`: same, a suffix, per-row, scalar, a middle run, or
/// an arbitrary pattern of 1s (the strided path).
func broadcastShape(_ rng: inout TestRNG, to big: [Int]) -> [Int] {
  let r = big.count
  switch rng.int(0...6) {
  case 0: return big
  case 1: return Array(big.suffix(rng.int(0...r)))
  case 2: return big.enumerated().map { $0.offset == r - 1 ? 1 : $0.element }
  case 3: return rng.bool() ? [] : [1]
  case 4:
    let lo = rng.int(0...max(0, r - 1)), hi = rng.int(lo...max(lo, r - 1))
    return big.enumerated().map { (lo...hi).contains($0.offset) ? $0.element : 1 }
  case 5: return Array(big.enumerated().map { $0.offset % 2 == 0 ? 1 : $0.element }.suffix(rng.int(0...r)))
  default: return big.map { _ in rng.bool() ? 1 : 0 }.enumerated().map { $0.element == 1 ? 1 : big[$0.offset] }
  }
}

/// Rows × cols operands for the ops over the last axis.
func lastAxisShape(_ rng: inout TestRNG, _ size: SizeClass) -> [Int] {
  switch size {
  case .tiny: return [rng.int(1...3), rng.int(1...5)]
  case .medium: return [rng.int(1...4), rng.int(3...9), rng.int(17...70) | 1]
  case .large: return [rng.int(150...300), rng.int(150...260) | 1]
  }
}

/// A uniform binary-op row (add/sub/mul/div) with broadcasting variants.
func binaryRow(_ op: dino_op, divisor: Bool = false) -> KernelRow {
  KernelRow(op: op) { rng, size in
    let a = randomShape(&rng, size, rank: rng.int(1...4))
    let b = broadcastShape(&rng, to: a)
    return KernelCase(op, [a, b], out: a, rng: &rng) { i, r in
      divisor && i == 1 ? r.float(0.5, 1.5) * (r.bool() ? 1 : -1) : r.float(-1, 1)
    }
  }
}

/// A row for an op that maps x (any shape) to a same-shaped result.
func unaryRow(_ op: dino_op, fattr: [Float] = [], atol: Float = 1e-5, lo: Float = -1, hi: Float = 1)
  -> KernelRow
{
  KernelRow(op: op, atol: atol) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    return KernelCase(op, [x], out: x, fattr: fattr, rng: &rng) { _, r in r.float(lo, hi) }
  }
}

/// A row over rows of the last axis with `n` same-shaped operands (+ extra vectors).
func rowsRow(
  _ op: dino_op, operands n: Int, vectors: Int = 0, fattr: [Float] = [],
  atol: Float = 1e-5, rtol: Float = 1e-4, outIsVector: Bool = false,
  fill: @escaping @Sendable (Int, inout TestRNG) -> Float = { _, r in r.float(-1, 1) }
) -> KernelRow {
  KernelRow(op: op, atol: atol, rtol: rtol) { rng, size in
    let x = lastAxisShape(&rng, size)
    let shapes = Array(repeating: x, count: n) + Array(repeating: [x.last!], count: vectors)
    return KernelCase(op, shapes, out: outIsVector ? [x.last!] : x, fattr: fattr, rng: &rng, fill: fill)
  }
}

/// A weight-norm row: operands (dW?) v [K,C], g [K,1].
func weightNormRow(_ op: dino_op, hasDW: Bool, hasG: Bool, outIsG: Bool) -> KernelRow {
  KernelRow(op: op) { rng, size in
    let k = size == .large ? rng.int(200...400) : size.extent(&rng)
    let c = size == .large ? rng.int(150...257) | 1 : size.extent(&rng) + 1
    var shapes: [[Int]] = hasDW ? [[k, c], [k, c]] : [[k, c]]
    if hasG { shapes.append([k, 1]) }
    return KernelCase(op, shapes, out: outIsG ? [k, 1] : [k, c], rng: &rng)
  }
}

/// Each row's mean and 1/√(var + eps), interleaved: the stats operand of layer_norm_grad.
func layerNormStats(_ x: [Float], cols d: Int, eps: Double) -> [Float] {
  var stats: [Float] = []
  for r in 0..<(d == 0 ? 0 : x.count / d) {
    let row = x[r * d..<(r + 1) * d].map(Double.init)
    let mean = row.reduce(0, +) / Double(d)
    let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
    stats += [Float(mean), Float(1 / (variance + eps).squareRoot())]
  }
  return stats
}

/// Every op of IR/ops.def except the leaves.
let kernelTable: [KernelRow] = [
  KernelRow(op: .matmul, atol: 1e-4, rtol: 1e-4) { rng, size in
    let ta = rng.bool(), tb = rng.bool(), shared = rng.bool()
    let batch = (0..<rng.int(0...2)).map { _ in rng.int(1...3) }
    let (m, n, k) = size == .large
      ? (rng.int(60...200) | 1, rng.int(60...200) | 1, rng.int(30...90) | 1)
      : (size.extent(&rng), size.extent(&rng), size.extent(&rng))
    let a = batch + (ta ? [k, m] : [m, k])
    let bMat = tb ? [n, k] : [k, n]
    return KernelCase(.matmul, [a, shared ? bMat : batch + bMat], out: batch + [m, n],
                      iattr: [ta ? 1 : 0, tb ? 1 : 0], rng: &rng)
  },
  KernelRow(op: .linear, atol: 1e-4, rtol: 1e-4) { rng, size in
    let lead = size == .large ? [rng.int(2...3), rng.int(100...200) | 1] : [size.extent(&rng)]
    let inDim = size.extent(&rng), outDim = size.extent(&rng)
    return KernelCase(.linear, [lead + [inDim], [outDim, inDim], [outDim]], out: lead + [outDim], rng: &rng)
  },
  KernelRow(op: .linearGelu, atol: 1e-4, rtol: 1e-4) { rng, size in
    let lead = size == .large ? [rng.int(2...3), rng.int(100...200) | 1] : [size.extent(&rng)]
    let inDim = size.extent(&rng), outDim = size.extent(&rng)
    var c = KernelCase(.linearGelu, [lead + [inDim], [outDim, inDim], [outDim]], out: lead + [outDim], rng: &rng)
    c.extraOuts = [lead + [outDim]]
    return c
  },
  KernelRow(op: .linearResidual, atol: 1e-4, rtol: 1e-4) { rng, size in
    let lead = size == .large ? [rng.int(2...3), rng.int(100...200) | 1] : [size.extent(&rng)]
    let inDim = size.extent(&rng), outDim = size.extent(&rng)
    let shapes = [lead + [inDim], [outDim, inDim], [outDim], lead + [outDim]]
    return KernelCase(.linearResidual, shapes, out: lead + [outDim], rng: &rng)
  },
  KernelRow(op: .patchEmbed, atol: 1e-4, rtol: 1e-4) { rng, size in
    let p = rng.int(1...5), c = rng.int(1...3)
    let b = size == .large ? 3 : rng.int(1...2)
    let gh = size == .large ? rng.int(9...15) : size.extent(&rng) % 9 + 1
    let gw = size == .large ? rng.int(9...15) : rng.int(1...5)
    let d = size == .large ? rng.int(60...99) : size.extent(&rng)
    return KernelCase(.patchEmbed, [[b, c, gh * p, gw * p], [d, c, p, p], [d]],
                      out: [b, gh * gw, d], iattr: [Int64(p)], rng: &rng)
  },
  binaryRow(.add),
  binaryRow(.sub),
  binaryRow(.mul),
  binaryRow(.div, divisor: true),
  unaryRow(.scale, fattr: [-1.75]),
  unaryRow(.gelu, atol: 1e-6, lo: -6, hi: 6),
  KernelRow(op: .geluBwd, atol: 1e-6) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.geluBwd, [x, x], out: x, rng: &rng) { i, r in i == 0 ? r.float(-1, 1) : r.float(-6, 6) }
  },
  // Offset rows exercise the two-pass variance; the backward ops use eps = 1e-2 because
  // their result cancels (exactly, for 2 columns), so float error grows with rstd².
  rowsRow(.layerNorm, operands: 1, vectors: 2, fattr: [1e-6], atol: 2e-5) { _, r in r.float(-1, 1) + 0.5 },
  rowsRow(.layerNormBwd, operands: 2, vectors: 1, fattr: [1e-2], atol: 2e-5) { _, r in r.float(-1, 1) + 0.5 },
  rowsRow(.layerNormBwdGamma, operands: 2, fattr: [1e-2], atol: 1e-4, outIsVector: true) { _, r in r.float(-1, 1) + 0.5 },
  KernelRow(op: .layerNormTrain, atol: 2e-5) { rng, size in
    let x = lastAxisShape(&rng, size)
    var c = KernelCase(.layerNormTrain, [x, [x.last!], [x.last!]], out: x, fattr: [1e-6], rng: &rng) { _, r in
      r.float(-1, 1) + 0.5
    }
    c.extraOuts = [Array(x.dropLast()) + [2]]
    return c
  },
  KernelRow(op: .layerNormGrad, atol: 1e-4) { rng, size in
    let x = lastAxisShape(&rng, size)
    let d = x.last!
    var c = KernelCase(.layerNormGrad, [x, x, Array(x.dropLast()) + [2], [d]], out: x, rng: &rng) { _, r in
      r.float(-1, 1) + 0.5
    }
    c.data[2] = layerNormStats(c.data[1], cols: d, eps: 1e-2)
    c.extraOuts = [[d], [d]]
    return c
  },
  KernelRow(op: .l2Normalize) { rng, size in
    let x = lastAxisShape(&rng, size)
    let zeroRow = rng.int(0...x.dropLast().reduce(1, *) - 1)
    return KernelCase(.l2Normalize, [x], out: x, fattr: [1e-6], rng: &rng).zeroingRow(zeroRow, of: 0, cols: x.last!)
  },
  KernelRow(op: .l2NormalizeBwd, atol: 1e-4) { rng, size in
    let x = lastAxisShape(&rng, size)
    let zeroRow = rng.int(0...x.dropLast().reduce(1, *) - 1)
    return KernelCase(.l2NormalizeBwd, [x, x], out: x, fattr: [1e-2], rng: &rng).zeroingRow(zeroRow, of: 1, cols: x.last!)
  },
  weightNormRow(.weightNorm, hasDW: false, hasG: true, outIsG: false),
  weightNormRow(.weightNormBwdV, hasDW: true, hasG: true, outIsG: false),
  weightNormRow(.weightNormBwdG, hasDW: true, hasG: false, outIsG: true),
  rowsRow(.softmax, operands: 1) { _, r in r.float(-8, 8) },
  rowsRow(.softmaxBwd, operands: 2) { i, r in i == 0 ? r.float(-1, 1) : r.float(0, 1) },
  KernelRow(op: .attention, atol: 1e-5, rtol: 1e-4) { rng, size in
    let (b, n, heads, hd) = attentionShape(&rng, size)
    let c = heads * hd
    var k = KernelCase(
      .attention, [[b, n, 3 * c]], out: [b, n, c], iattr: [Int64(heads)],
      fattr: [1 / Float(hd).squareRoot()], rng: &rng)
    k.extraOuts = [[b, heads, n, n]]
    return k
  },
  KernelRow(op: .attentionBwd, atol: 1e-5, rtol: 1e-4) { rng, size in
    let (b, n, heads, hd) = attentionShape(&rng, size)
    let c = heads * hd
    // probs: positive rows summing to 1, as softmax leaves them.
    var k = KernelCase(
      .attentionBwd, [[b, n, c], [b, n, 3 * c], [b, heads, n, n]], out: [b, n, 3 * c],
      iattr: [Int64(heads)], fattr: [1 / Float(hd).squareRoot()], rng: &rng
    ) { i, r in i == 2 ? r.float(0.01, 1) : r.float(-1, 1) }
    for row in 0..<(b * heads * n) {
      let sum = k.data[2][row * n..<(row + 1) * n].reduce(0, +)
      for j in 0..<n { k.data[2][row * n + j] /= sum }
    }
    return k
  },
  rowsRow(.logSoftmax, operands: 1) { _, r in r.float(-8, 8) },
  rowsRow(.logSoftmaxBwd, operands: 2) { i, r in i == 0 ? r.float(-1, 1) : r.float(-6, 0) },
  KernelRow(op: .reshape) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let y = rng.bool() ? [x.reduce(1, *)] : Array(x.reversed()) + [1]
    return KernelCase(.reshape, [x], out: y, iattr: y.map(Int64.init), rng: &rng)
  },
  KernelRow(op: .permute) { rng, size in
    let rank = rng.int(1...6)
    var x = (0..<rank).map { _ in size == .tiny ? rng.int(1...3) : rng.int(1...7) }
    if size == .large { x[rng.int(0...rank - 1)] = (1 << 15) / max(1, x.reduce(1, *)) + 3 }
    var perm = Array(0..<rank)
    perm.shuffle(using: &rng)
    return KernelCase(.permute, [x], out: perm.map { x[$0] }, iattr: perm.map(Int64.init), rng: &rng)
  },
  KernelRow(op: .concat) { rng, size in
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
  KernelRow(op: .slice) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let axis = rng.int(0...x.count - 1)
    let start = rng.int(0...x[axis] - 1), end = rng.int(start + 1...x[axis])
    var out = x
    out[axis] = end - start
    return KernelCase(.slice, [x], out: out, iattr: [Int64(axis), Int64(start), Int64(end)], rng: &rng)
  },
  KernelRow(op: .pad) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let axis = rng.int(0...x.count - 1), before = rng.int(0...3), after = rng.int(0...3)
    var out = x
    out[axis] += before + after
    return KernelCase(.pad, [x], out: out, iattr: [Int64(axis), Int64(before), Int64(after)], rng: &rng)
  },
  KernelRow(op: .broadcastTo) { rng, size in
    let y = randomShape(&rng, size, rank: rng.int(1...4))
    let x = broadcastShape(&rng, to: y)
    return KernelCase(.broadcastTo, [x], out: y, iattr: y.map(Int64.init), rng: &rng)
  },
  KernelRow(op: .patchify) { rng, size in
    let p = rng.int(1...4), c = rng.int(1...3)
    let b = size == .large ? 5 : rng.int(1...2)
    let gh = size == .large ? rng.int(20...31) : rng.int(1...5), gw = size == .large ? rng.int(20...31) : rng.int(1...5)
    return KernelCase(.patchify, [[b, c, gh * p, gw * p]], out: [b, gh * gw, c * p * p],
                      iattr: [Int64(p)], rng: &rng)
  },
  reduceRow(.reduceSum),
  reduceRow(.reduceMean),
  KernelRow(op: .sumTo, atol: 1e-4, rtol: 1e-4) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    var y = broadcastShape(&rng, to: x)
    if size == .large && rng.bool() { y = [x.last!] }  // a bias gradient: blocked partials
    return KernelCase(.sumTo, [x], out: y, iattr: y.map(Int64.init), rng: &rng)
  },
  KernelRow(op: .dropPathMask, atol: 0, rtol: 0) { rng, size in
    let batch = size == .large ? 5000 : size.extent(&rng)
    let rate = rng.pick([Float(0), 0.1, 0.5, 0.9])
    let seed = Int32(truncatingIfNeeded: rng.next())
    var c = KernelCase(.dropPathMask, [[]], out: [batch], iattr: [Int64(rng.int(0...40)), Int64(batch)],
                       fattr: [rate], rng: &rng) { _, _ in Float(bitPattern: UInt32(bitPattern: seed)) }
    c.int32Operands = [0]
    return c
  },
  KernelRow(op: .clipGradCoef) { rng, size in
    let g = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.clipGradCoef, [g], out: [], fattr: [rng.pick([Float(0.1), 3, 1e6])], rng: &rng)
  },
  KernelRow(op: .adamwUpdate) { rng, size in
    let p = randomShape(&rng, size, rank: rng.int(1...2))
    let step = Float(rng.int(0...5)), gate: Float = rng.int(0...3) == 0 ? 0 : 1
    return KernelCase(.adamwUpdate, [p, p, p, p, [], [], [], []], out: [],
                      iattr: [Int64(rng.int(0...1))], fattr: [0.9, 0.999, 1e-8], rng: &rng) { i, r in
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
  KernelRow(op: .emaUpdate) { rng, size in
    let t = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.emaUpdate, [t, t, []], out: [], rng: &rng) { i, r in i == 2 ? 0.996 : r.float(-1, 1) }
  },
  KernelRow(op: .assign) { rng, size in
    let t = randomShape(&rng, size, rank: rng.int(1...3))
    return KernelCase(.assign, [t, t], out: [], rng: &rng)
  },
  KernelRow(op: .adamwFlat) { rng, size in
    let segments = flatSegmentTable(&rng, size)
    let gate: Float = rng.int(0...2) == 0 ? 0 : 1
    let maxNorm: Float = rng.pick([Float(0), 0.05, 3])
    var c = KernelCase(
      .adamwFlat,
      [[segments.elements], [segments.elements], [segments.elements], [segments.elements],
       [segments.steps], [], [], [], [segments.rows, 8]],
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
  KernelRow(op: .emaFlat) { rng, size in
    let segments = flatSegmentTable(&rng, size)
    var c = KernelCase(
      .emaFlat, [[segments.elements], [segments.elements], [], [segments.rows, 8]], out: [],
      rng: &rng
    ) { i, r in i == 2 ? 0.996 : r.float(-1, 1) }
    c.data[3] = segments.table
    return c
  },
]

/// A random segment table for `adamw_flat` / `ema_flat`: 1–6 segments in ascending order
/// with gaps between them (elements the ops must leave alone), each with its own step
/// count index (in shuffled order), decay and gate flags; sized by `size` so large draws
/// run multi-threaded.
func flatSegmentTable(_ rng: inout TestRNG, _ size: SizeClass)
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

/// A reduce_sum / reduce_mean row over a random axis, with and without keepdims.
func reduceRow(_ op: dino_op) -> KernelRow {
  KernelRow(op: op, atol: 1e-4, rtol: 1e-4) { rng, size in
    let x = randomShape(&rng, size, rank: rng.int(1...4))
    let axis = rng.int(0...x.count - 1), keep = rng.bool()
    var out = x
    if keep { out[axis] = 1 } else { out.remove(at: axis) }
    return KernelCase(op, [x], out: out, iattr: [Int64(axis), keep ? 1 : 0], rng: &rng)
  }
}

extension KernelCase {
  /// The case with row `row` (of `cols` elements) of operand `operand` set to zero.
  func zeroingRow(_ row: Int, of operand: Int, cols: Int) -> KernelCase {
    var c = self
    for j in 0..<cols { c.data[operand][row * cols + j] = 0 }
    return c
  }
}

extension TestRNG: RandomNumberGenerator {}

/// Images, tokens, heads and head width of an attention case: tokens not a multiple of 8,
/// 1 or 3 heads, head widths not a multiple of 16; large draws pass the serial threshold.
func attentionShape(_ rng: inout TestRNG, _ size: SizeClass) -> (Int, Int, Int, Int) {
  let heads = rng.bool() ? 1 : 3
  switch size {
  case .tiny: return (rng.int(1...2), rng.int(1...5), heads, rng.int(1...3))
  case .medium: return (rng.int(1...3), rng.int(7...21) | 1, heads, rng.int(5...19) | 1)
  case .large: return (rng.int(3...5), rng.int(37...61) | 1, heads, rng.int(17...37) | 1)
  }
}
