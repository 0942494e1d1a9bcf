import DinoIR

private typealias R = ReferenceInterpreter

/// The attention family (`attention`, `attention_bwd`, made by the `fuse` pass):
/// `Reference+Attention.swift` holds the loops.
let attentionOracleRows: [OracleRow] = [
  OracleRow(
    .attention,
    reference: { x, a in
      let (out, probs) = R.attention(x[0], heads: a.int("heads"), scale: a.float("scale"))
      return [out, probs]
    }
  ) { rng, size in
    let (b, n, heads, hd) = attentionShape(&rng, size)
    let c = heads * hd
    var k = KernelCase(
      .attention, [[b, n, 3 * c]], out: [b, n, c], iattr: [Int64(heads)],
      fattr: [1 / Float(hd).squareRoot()], rng: &rng)
    k.extraOuts = [[b, heads, n, n]]
    return k
  },
  OracleRow(
    .attentionBwd,
    reference: { x, a in
      [R.attentionBwd(x[0], x[1], x[2], heads: a.int("heads"), scale: a.float("scale"))]
    }
  ) { rng, size in
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
]

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
