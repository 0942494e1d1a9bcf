import DinoIR

extension ReferenceInterpreter {
  /// The rows of the last axis: (row count, row length); a scalar is one row of one.
  static func rows(_ x: ReferenceTensor) -> (count: Int, length: Int) {
    let length = x.shape.last ?? 1
    return (length == 0 ? 0 : x.count / length, length)
  }

  /// Mean and 1/√(biased variance + eps) of row `r` of `x`.
  static func rowStatistics(_ x: ReferenceTensor, row r: Int, eps: Double) -> (
    mean: Double, rstd: Double
  ) {
    let d = rows(x).length
    var mean = 0.0
    for i in 0..<d { mean += x.data[r * d + i] }
    mean /= Double(d)
    var variance = 0.0
    for i in 0..<d { variance += (x.data[r * d + i] - mean) * (x.data[r * d + i] - mean) }
    variance /= Double(d)
    return (mean, 1 / (variance + eps).squareRoot())
  }

  /// `layer_norm(x, gamma, beta) {eps}`: per row y = (x − μ)/√(σ² + eps)·gamma + beta.
  public static func layerNorm(
    _ x: ReferenceTensor, _ gamma: ReferenceTensor, _ beta: ReferenceTensor, eps: Double
  ) -> ReferenceTensor {
    let (n, d) = rows(x)
    var y = ReferenceTensor(shape: x.shape)
    for r in 0..<n {
      let (mean, rstd) = rowStatistics(x, row: r, eps: eps)
      for i in 0..<d {
        y.data[r * d + i] = (x.data[r * d + i] - mean) * rstd * gamma.data[i] + beta.data[i]
      }
    }
    return y
  }

  /// `layer_norm_bwd(dy, x, gamma) {eps}` → dx = r·(g − mean(g) − x̂·mean(g·x̂)) per row,
  /// with g = dy·gamma, x̂ = (x − μ)·r, r = 1/√(σ² + eps).
  public static func layerNormBwd(
    _ dy: ReferenceTensor, _ x: ReferenceTensor, _ gamma: ReferenceTensor, eps: Double
  ) -> ReferenceTensor {
    let (n, d) = rows(x)
    var dx = ReferenceTensor(shape: x.shape)
    for r in 0..<n {
      let (mean, rstd) = rowStatistics(x, row: r, eps: eps)
      var meanG = 0.0
      var meanGXhat = 0.0
      for i in 0..<d {
        let g = dy.data[r * d + i] * gamma.data[i]
        meanG += g
        meanGXhat += g * (x.data[r * d + i] - mean) * rstd
      }
      meanG /= Double(d)
      meanGXhat /= Double(d)
      for i in 0..<d {
        let g = dy.data[r * d + i] * gamma.data[i]
        let xhat = (x.data[r * d + i] - mean) * rstd
        dx.data[r * d + i] = rstd * (g - meanG - xhat * meanGXhat)
      }
    }
    return dx
  }

  /// `layer_norm_bwd_gamma(dy, x) {eps}` → `[D]`: Σ over every row of dy·x̂.
  public static func layerNormBwdGamma(_ dy: ReferenceTensor, _ x: ReferenceTensor, eps: Double)
    -> ReferenceTensor
  {
    let (n, d) = rows(x)
    var dgamma = ReferenceTensor(shape: [d])
    for r in 0..<n {
      let (mean, rstd) = rowStatistics(x, row: r, eps: eps)
      for i in 0..<d { dgamma.data[i] += dy.data[r * d + i] * (x.data[r * d + i] - mean) * rstd }
    }
    return dgamma
  }

  /// The Euclidean norm of row `r` of `x`.
  static func rowNorm(_ x: ReferenceTensor, row r: Int) -> Double {
    let d = rows(x).length
    var sum = 0.0
    for i in 0..<d { sum += x.data[r * d + i] * x.data[r * d + i] }
    return sum.squareRoot()
  }

  /// `l2_normalize(x) {eps}`: y = x / max(‖x‖₂, eps) per row.
  public static func l2Normalize(_ x: ReferenceTensor, eps: Double) -> ReferenceTensor {
    let (n, d) = rows(x)
    var y = ReferenceTensor(shape: x.shape)
    for r in 0..<n {
      let denominator = max(rowNorm(x, row: r), eps)
      for i in 0..<d { y.data[r * d + i] = x.data[r * d + i] / denominator }
    }
    return y
  }

  /// `l2_normalize_bwd(dy, x) {eps}`: dx = (dy − y·(y·dy))/n with n = ‖x‖, y = x/n when
  /// n > eps, else dy/eps.
  public static func l2NormalizeBwd(_ dy: ReferenceTensor, _ x: ReferenceTensor, eps: Double)
    -> ReferenceTensor
  {
    let (n, d) = rows(x)
    var dx = ReferenceTensor(shape: x.shape)
    for r in 0..<n {
      let norm = rowNorm(x, row: r)
      if norm > eps {
        var dot = 0.0
        for i in 0..<d { dot += x.data[r * d + i] / norm * dy.data[r * d + i] }
        for i in 0..<d {
          dx.data[r * d + i] = (dy.data[r * d + i] - x.data[r * d + i] / norm * dot) / norm
        }
      } else {
        for i in 0..<d { dx.data[r * d + i] = dy.data[r * d + i] / eps }
      }
    }
    return dx
  }

  /// `weight_norm(v[K,C], g[K,1])`: W_k = g_k·v_k/‖v_k‖ (no epsilon).
  public static func weightNorm(_ v: ReferenceTensor, _ g: ReferenceTensor) -> ReferenceTensor {
    let (k, c) = (v.shape[0], v.shape[1])
    var w = ReferenceTensor(shape: v.shape)
    for r in 0..<k {
      let norm = rowNorm(v, row: r)
      for i in 0..<c { w.data[r * c + i] = g.data[r] * v.data[r * c + i] / norm }
    }
    return w
  }

  /// `weight_norm_bwd_v(dW, v, g)`: dv_k = (g_k/‖v_k‖)·(dW_k − (dW_k·v̂_k)·v̂_k).
  public static func weightNormBwdV(
    _ dw: ReferenceTensor, _ v: ReferenceTensor, _ g: ReferenceTensor
  )
    -> ReferenceTensor
  {
    let (k, c) = (v.shape[0], v.shape[1])
    var dv = ReferenceTensor(shape: v.shape)
    for r in 0..<k {
      let norm = rowNorm(v, row: r)
      var dot = 0.0
      for i in 0..<c { dot += dw.data[r * c + i] * v.data[r * c + i] / norm }
      for i in 0..<c {
        dv.data[r * c + i] =
          g.data[r] / norm * (dw.data[r * c + i] - dot * v.data[r * c + i] / norm)
      }
    }
    return dv
  }

  /// `weight_norm_bwd_g(dW, v)` → `[K,1]`: dg_k = dW_k·v̂_k.
  public static func weightNormBwdG(_ dw: ReferenceTensor, _ v: ReferenceTensor) -> ReferenceTensor
  {
    let (k, c) = (v.shape[0], v.shape[1])
    var dg = ReferenceTensor(shape: [k, 1])
    for r in 0..<k {
      let norm = rowNorm(v, row: r)
      for i in 0..<c { dg.data[r] += dw.data[r * c + i] * v.data[r * c + i] / norm }
    }
    return dg
  }
}
