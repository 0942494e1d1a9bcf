import DinoIR
import Foundation

extension ReferenceInterpreter {
  /// Index of element (b, i, part, h, d) of a `[B, N, 3·C]` qkv tensor (part 0 q, 1 k, 2 v).
  static func qkvIndex(
    _ b: Int, _ i: Int, _ part: Int, _ h: Int, _ d: Int, n: Int, c: Int, headDim: Int
  ) -> Int {
    (b * n + i) * 3 * c + part * c + h * headDim + d
  }

  /// The scaled scores scale·q_i·k_jᵀ of row i of image `bi`, head `h`, over keys j.
  private static func scaledScores(
    _ qkv: ReferenceTensor, _ bi: Int, _ h: Int, _ i: Int, heads: Int, scale: Double
  ) -> [Double] {
    let (n, c) = (qkv.shape[1], qkv.shape[2] / 3)
    let hd = c / heads
    return (0..<n).map { j in
      var dot = 0.0
      for d in 0..<hd {
        dot += qkv.data[qkvIndex(bi, i, 0, h, d, n: n, c: c, headDim: hd)]
          * qkv.data[qkvIndex(bi, j, 1, h, d, n: n, c: c, headDim: hd)]
      }
      return dot * scale
    }
  }

  /// `attention(qkv) {heads, queries, scale}`: per image and head, P = softmax(scale·q·kᵀ)
  /// for the first `queries` rows of q (all N when nil) and out = P·v in the `[B, Q, C]`
  /// layout (head h in columns h·hd ..< (h+1)·hd).
  /// - Returns: out and each softmax row's log-sum-exp `[B, heads, Q]`.
  public static func attention(
    _ qkv: ReferenceTensor, heads: Int, queries: Int? = nil, scale: Double
  ) -> (out: ReferenceTensor, lse: ReferenceTensor) {
    let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
    let hd = c / heads
    let nq = queries ?? n
    var out = ReferenceTensor(shape: [b, nq, c])
    var lse = ReferenceTensor(shape: [b, heads, nq])
    for bi in 0..<b {
      for h in 0..<heads {
        for i in 0..<nq {
          let scores = scaledScores(qkv, bi, h, i, heads: heads, scale: scale)
          let top = scores.max() ?? 0
          let total = scores.reduce(0) { $0 + exp($1 - top) }
          let p = scores.map { exp($0 - top) / total }
          lse.data[(bi * heads + h) * nq + i] = top + log(total)
          for d in 0..<hd {
            var acc = 0.0
            for j in 0..<n {
              acc += p[j] * qkv.data[qkvIndex(bi, j, 2, h, d, n: n, c: c, headDim: hd)]
            }
            out.data[(bi * nq + i) * c + h * hd + d] = acc
          }
        }
      }
    }
    return (out, lse)
  }

  /// `attention_bwd(dy, qkv, out, lse) {heads, queries, scale}`: d(qkv) of `attention`
  /// given the incoming gradient dy `[B, Q, C]` (Q = dy's rows), the forward's output and
  /// its rows' log-sum-exp: P = exp(scale·q·kᵀ − lse) (Q × N), D = rowsum(dy ⊙ out),
  /// dS = scale·P ⊙ (dy·vᵀ − D), dq = dS·k (zero past row Q), dk = dSᵀ·q, dv = Pᵀ·dy.
  public static func attentionBwd(
    _ dy: ReferenceTensor, _ qkv: ReferenceTensor, _ out: ReferenceTensor,
    _ lse: ReferenceTensor, heads: Int, scale: Double
  ) -> ReferenceTensor {
    let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
    let nq = dy.shape[1]
    let hd = c / heads
    var dqkv = ReferenceTensor(shape: qkv.shape)
    func index(_ bi: Int, _ i: Int, _ part: Int, _ h: Int, _ d: Int) -> Int {
      qkvIndex(bi, i, part, h, d, n: n, c: c, headDim: hd)
    }
    for bi in 0..<b {
      for h in 0..<heads {
        func g(_ i: Int, _ d: Int) -> Double { dy.data[(bi * nq + i) * c + h * hd + d] }
        func o(_ i: Int, _ d: Int) -> Double { out.data[(bi * nq + i) * c + h * hd + d] }
        var p = Array(repeating: 0.0, count: nq * n), ds = p
        for i in 0..<nq {
          let m = lse.data[(bi * heads + h) * nq + i]
          let scores = scaledScores(qkv, bi, h, i, heads: heads, scale: scale)
          let rowDot = (0..<hd).reduce(0.0) { $0 + g(i, $1) * o(i, $1) }
          for j in 0..<n {
            p[i * n + j] = exp(scores[j] - m)
            var dp = 0.0
            for d in 0..<hd { dp += g(i, d) * qkv.data[index(bi, j, 2, h, d)] }
            ds[i * n + j] = scale * p[i * n + j] * (dp - rowDot)
          }
        }
        for i in 0..<n {
          for d in 0..<hd {
            var (dq, dk, dv) = (0.0, 0.0, 0.0)
            for j in 0..<n where i < nq {
              dq += ds[i * n + j] * qkv.data[index(bi, j, 1, h, d)]
            }
            for j in 0..<nq {
              dk += ds[j * n + i] * qkv.data[index(bi, j, 0, h, d)]
              dv += p[j * n + i] * g(j, d)
            }
            dqkv.data[index(bi, i, 0, h, d)] = dq
            dqkv.data[index(bi, i, 1, h, d)] = dk
            dqkv.data[index(bi, i, 2, h, d)] = dv
          }
        }
      }
    }
    return dqkv
  }
}
