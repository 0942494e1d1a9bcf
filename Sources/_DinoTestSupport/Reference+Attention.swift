import DinoIR
import Foundation

extension ReferenceInterpreter {
  /// Index of element (b, i, part, h, d) of a `[B, N, 3·C]` qkv tensor (part 0 q, 1 k, 2 v).
  static func qkvIndex(
    _ b: Int, _ i: Int, _ part: Int, _ h: Int, _ d: Int, n: Int, c: Int, headDim: Int
  ) -> Int {
    (b * n + i) * 3 * c + part * c + h * headDim + d
  }

  /// `attention(qkv) {heads, scale}`: per image and head, P = softmax(scale·q·kᵀ) and
  /// out = P·v in the `[B, N, C]` layout (head h in columns h·hd ..< (h+1)·hd).
  /// - Returns: out and the softmax rows P `[B, heads, N, N]`.
  public static func attention(_ qkv: ReferenceTensor, heads: Int, scale: Double)
    -> (out: ReferenceTensor, probs: ReferenceTensor)
  {
    let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
    let hd = c / heads
    var out = ReferenceTensor(shape: [b, n, c])
    var probs = ReferenceTensor(shape: [b, heads, n, n])
    func at(_ bi: Int, _ i: Int, _ part: Int, _ h: Int, _ d: Int) -> Double {
      qkv.data[qkvIndex(bi, i, part, h, d, n: n, c: c, headDim: hd)]
    }
    for bi in 0..<b {
      for h in 0..<heads {
        for i in 0..<n {
          var scores = ReferenceTensor(shape: [1, n])
          for j in 0..<n {
            var dot = 0.0
            for d in 0..<hd { dot += at(bi, i, 0, h, d) * at(bi, j, 1, h, d) }
            scores.data[j] = dot * scale
          }
          let p = softmax(scores).data
          let row = ((bi * heads + h) * n + i) * n
          probs.data.replaceSubrange(row..<(row + n), with: p)
          for d in 0..<hd {
            var acc = 0.0
            for j in 0..<n { acc += p[j] * at(bi, j, 2, h, d) }
            out.data[(bi * n + i) * c + h * hd + d] = acc
          }
        }
      }
    }
    return (out, probs)
  }

  /// `attention_bwd(dy, qkv, probs) {heads, scale}`: d(qkv) of `attention` given the
  /// incoming gradient dy `[B, N, C]` and the saved softmax rows.
  public static func attentionBwd(
    _ dy: ReferenceTensor, _ qkv: ReferenceTensor, _ probs: ReferenceTensor, heads: Int,
    scale: Double
  ) -> ReferenceTensor {
    let (b, n, c) = (qkv.shape[0], qkv.shape[1], qkv.shape[2] / 3)
    let hd = c / heads
    var dqkv = ReferenceTensor(shape: qkv.shape)
    func index(_ bi: Int, _ i: Int, _ part: Int, _ h: Int, _ d: Int) -> Int {
      qkvIndex(bi, i, part, h, d, n: n, c: c, headDim: hd)
    }
    for bi in 0..<b {
      for h in 0..<heads {
        let p0 = (bi * heads + h) * n * n
        func p(_ i: Int, _ j: Int) -> Double { probs.data[p0 + i * n + j] }
        func g(_ i: Int, _ d: Int) -> Double { dy.data[(bi * n + i) * c + h * hd + d] }
        var ds = Array(repeating: 0.0, count: n * n)
        for i in 0..<n {
          var dp = Array(repeating: 0.0, count: n)
          var rowDot = 0.0
          for j in 0..<n {
            for d in 0..<hd { dp[j] += g(i, d) * qkv.data[index(bi, j, 2, h, d)] }
            rowDot += dp[j] * p(i, j)
          }
          for j in 0..<n { ds[i * n + j] = p(i, j) * (dp[j] - rowDot) * scale }
        }
        for i in 0..<n {
          for d in 0..<hd {
            var (dq, dk, dv) = (0.0, 0.0, 0.0)
            for j in 0..<n {
              dq += ds[i * n + j] * qkv.data[index(bi, j, 1, h, d)]
              dk += ds[j * n + i] * qkv.data[index(bi, j, 0, h, d)]
              dv += p(j, i) * g(j, d)
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
