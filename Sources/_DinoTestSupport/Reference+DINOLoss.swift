import Foundation

extension ReferenceInterpreter {
  /// log_softmax(scale · s[r]) of row r of the `[rows, K]` student logits.
  static func scaledLogSoftmax(_ s: ReferenceTensor, row r: Int, scale: Double) -> [Double] {
    let k = s.shape[1]
    let x = (0..<k).map { scale * s.data[r * k + $0] }
    let top = x.max() ?? 0
    let logSum = log(x.reduce(0) { $0 + exp($1 - top) })
    return x.map { $0 - top - logSum }
  }

  /// `dino_cross_entropy(s, q) {views, scale}`: the mean over the pairs (a, v), a ∈ {0, 1},
  /// v ≠ a, of mean_b −Σ_k q[a·B+b, k]·log_softmax(scale·s[v·B+b])_k, summed in official
  /// DINO's order (teacher view outer, student view inner).
  public static func dinoCrossEntropy(
    _ s: ReferenceTensor, _ q: ReferenceTensor, views: Int, scale: Double
  ) -> ReferenceTensor {
    let (batch, k) = (q.shape[0] / 2, q.shape[1])
    var total = 0.0
    var pairs = 0
    for a in 0..<2 {
      for v in 0..<views where v != a {
        var pair = 0.0
        for b in 0..<batch {
          let logP = scaledLogSoftmax(s, row: v * batch + b, scale: scale)
          for i in 0..<k { pair -= q.data[(a * batch + b) * k + i] * logP[i] }
        }
        total += pair / Double(batch)
        pairs += 1
      }
    }
    return ReferenceTensor(shape: [], data: [total / Double(pairs)])
  }

  /// `dino_cross_entropy_bwd(dy, s, q) {views, scale}`: ds[v·B+b] = dy·scale·(n_v·softmax −
  /// Σ_{a≠v} q[a·B+b]) / ((2V − 2)·B), n_v the number of teacher views a ≠ v.
  public static func dinoCrossEntropyBwd(
    _ dy: ReferenceTensor, _ s: ReferenceTensor, _ q: ReferenceTensor, views: Int,
    scale: Double
  ) -> ReferenceTensor {
    let (batch, k) = (q.shape[0] / 2, q.shape[1])
    let factor = dy.data[0] * scale / Double((2 * views - 2) * batch)
    var ds = ReferenceTensor(shape: s.shape)
    for v in 0..<views {
      let teachers = (0..<2).filter { $0 != v }
      for b in 0..<batch {
        let r = v * batch + b
        let logP = scaledLogSoftmax(s, row: r, scale: scale)
        for i in 0..<k {
          let targets = teachers.reduce(0.0) { $0 + q.data[($1 * batch + b) * k + i] }
          ds.data[r * k + i] = factor * (Double(teachers.count) * exp(logP[i]) - targets)
        }
      }
    }
    return ds
  }
}
