import DinoIR

private typealias R = ReferenceInterpreter

/// The attention family (`attention`, `attention_bwd`, made by the `fuse` pass):
/// `Reference+Attention.swift` holds the loops.
let attentionOracleRows: [OracleRow] = [
  OracleRow(
    .attention,
    reference: { x, a in
      let (out, lse) = R.attention(
        x[0], heads: a.int("heads"), queries: a.int("queries"), scale: a.float("scale"))
      return [out, lse]
    }
  ) { rng, size in
    let (b, n, heads, hd) = attentionShape(&rng, size)
    return attentionCase(
      .attention, batch: b, tokens: n, queries: attentionQueries(&rng, n), heads: heads,
      headDim: hd, rng: &rng)
  },
  OracleRow(
    .attentionBwd,
    reference: { x, a in
      [R.attentionBwd(x[0], x[1], x[2], x[3], heads: a.int("heads"), scale: a.float("scale"))]
    }
  ) { rng, size in
    let (b, n, heads, hd) = attentionShape(&rng, size)
    return attentionCase(
      .attentionBwd, batch: b, tokens: n, queries: attentionQueries(&rng, n), heads: heads,
      headDim: hd, rng: &rng)
  },
]

/// An `attention` (`op` .attention) or `attention_bwd` case of the first `queries` query
/// rows (all `tokens` when nil) with scale 1/√hd and operands in [-1, 1); the backward's
/// `out` and `lse` are the forward's (in Double, rounded) on the drawn qkv, as the fused
/// pipeline passes them.
public func attentionCase(
  _ op: OpKind, batch b: Int, tokens n: Int, queries: Int? = nil, heads: Int, headDim hd: Int,
  rng: inout TestRNG
) -> KernelCase {
  let c = heads * hd
  let q = queries ?? n
  let scale = 1 / Float(hd).squareRoot()
  let iattr = [Int64(heads), Int64(q)]
  if op == .attention {
    var k = KernelCase(
      .attention, [[b, n, 3 * c]], out: [b, q, c], iattr: iattr, fattr: [scale], rng: &rng)
    k.extraOuts = [[b, heads, q]]
    return k
  }
  var k = KernelCase(
    .attentionBwd, [[b, q, c], [b, n, 3 * c], [b, q, c], [b, heads, q]], out: [b, n, 3 * c],
    iattr: iattr, fattr: [scale], rng: &rng)
  let (out, lse) = R.attention(
    ReferenceTensor(shape: [b, n, 3 * c], floats: k.data[1]), heads: heads, queries: q,
    scale: Double(scale))
  k.data[2] = out.floats
  k.data[3] = lse.floats
  return k
}

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

/// The query rows of a drawn attention case over n tokens: all n, 1 (a class token) or a
/// prefix in between, a third each.
func attentionQueries(_ rng: inout TestRNG, _ n: Int) -> Int {
  switch rng.int(0...2) {
  case 0: return n
  case 1: return 1
  default: return rng.int(1...n)
  }
}
