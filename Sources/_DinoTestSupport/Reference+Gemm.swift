import DinoIR

extension ReferenceInterpreter {
  /// `matmul(a, b) {trans_a, trans_b}`: per batch, y = op(a)·op(b); a 2-D `b` is shared by
  /// every batch of `a`.
  public static func matmul(
    _ a: ReferenceTensor, _ b: ReferenceTensor, transA: Bool, transB: Bool
  ) -> ReferenceTensor {
    let ra = a.rank
    let rb = b.rank
    let m = transA ? a.shape[ra - 1] : a.shape[ra - 2]
    let k = transA ? a.shape[ra - 2] : a.shape[ra - 1]
    let n = transB ? b.shape[rb - 2] : b.shape[rb - 1]
    let batch = Array(a.shape.dropLast(2))
    let shared = rb == 2
    var y = ReferenceTensor(shape: batch + [m, n])
    for bi in 0..<batch.reduce(1, *) {
      let aBase = bi * m * k
      let bBase = shared ? 0 : bi * k * n
      for i in 0..<m {
        for j in 0..<n {
          var sum = 0.0
          for l in 0..<k {
            let av = transA ? a.data[aBase + l * m + i] : a.data[aBase + i * k + l]
            let bv = transB ? b.data[bBase + j * k + l] : b.data[bBase + l * n + j]
            sum += av * bv
          }
          y.data[(bi * m + i) * n + j] = sum
        }
      }
    }
    return y
  }

  /// `linear(x[..., in], w[out, in], b[out])` = x·wᵀ + b.
  public static func linear(_ x: ReferenceTensor, _ w: ReferenceTensor, _ b: ReferenceTensor)
    -> ReferenceTensor
  {
    let outDim = w.shape[0]
    let inDim = w.shape[1]
    let rows = inDim == 0 ? 0 : x.count / inDim
    var y = ReferenceTensor(shape: x.shape.dropLast() + [outDim])
    for r in 0..<rows {
      for o in 0..<outDim {
        var sum = b.data[o]
        for i in 0..<inDim { sum += x.data[r * inDim + i] * w.data[o * inDim + i] }
        y.data[r * outDim + o] = sum
      }
    }
    return y
  }

  /// `patch_embed(x[B,C,H,W], w[D,C,p,p], b[D])`: the stride-p convolution,
  /// y[b, r·(W/p)+s, d] = b[d] + Σ_{c,i,j} w[d,c,i,j]·x[b, c, p·r+i, p·s+j].
  public static func patchEmbed(
    _ x: ReferenceTensor, _ w: ReferenceTensor, _ bias: ReferenceTensor, patch p: Int
  ) -> ReferenceTensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let dim = w.shape[0]
    let gridH = height / p
    let gridW = width / p
    var y = ReferenceTensor(shape: [batch, gridH * gridW, dim])
    for b in 0..<batch {
      for r in 0..<gridH {
        for s in 0..<gridW {
          for d in 0..<dim {
            var sum = bias.data[d]
            for c in 0..<channels {
              for i in 0..<p {
                for j in 0..<p {
                  let wi = ((d * channels + c) * p + i) * p + j
                  let xi = ((b * channels + c) * height + p * r + i) * width + p * s + j
                  sum += w.data[wi] * x.data[xi]
                }
              }
            }
            y.data[(b * gridH * gridW + r * gridW + s) * dim + d] = sum
          }
        }
      }
    }
    return y
  }
}
