extension ReferenceInterpreter {
  /// `layer_norm_train(x, gamma, beta) {eps}` → (y, stats): y as `layer_norm`, stats
  /// `[..., 2]` the mean and 1/√(var + eps) of every row.
  public static func layerNormTrain(
    _ x: ReferenceTensor, _ gamma: ReferenceTensor, _ beta: ReferenceTensor, eps: Double
  ) -> (y: ReferenceTensor, stats: ReferenceTensor) {
    let n = rows(x).count
    var stats = ReferenceTensor(shape: Array(x.shape.dropLast()) + [2])
    for r in 0..<n {
      let (mean, rstd) = rowStatistics(x, row: r, eps: eps)
      stats.data[2 * r] = mean
      stats.data[2 * r + 1] = rstd
    }
    return (layerNorm(x, gamma, beta, eps: eps), stats)
  }

  /// `layer_norm_grad(dy, x, stats, gamma)` → (dx, dgamma, dbeta) from the saved row
  /// statistics: dx as `layer_norm_bwd`, dgamma = Σ rows dy·x̂, dbeta = Σ rows dy.
  public static func layerNormGrad(
    _ dy: ReferenceTensor, _ x: ReferenceTensor, _ stats: ReferenceTensor,
    _ gamma: ReferenceTensor
  ) -> (dx: ReferenceTensor, dgamma: ReferenceTensor, dbeta: ReferenceTensor) {
    let (n, d) = rows(x)
    var dx = ReferenceTensor(shape: x.shape)
    var dgamma = ReferenceTensor(shape: [d])
    var dbeta = ReferenceTensor(shape: [d])
    for r in 0..<n {
      let mean = stats.data[2 * r], rstd = stats.data[2 * r + 1]
      var meanG = 0.0
      var meanGXhat = 0.0
      for i in 0..<d {
        let g = dy.data[r * d + i] * gamma.data[i]
        let xhat = (x.data[r * d + i] - mean) * rstd
        meanG += g
        meanGXhat += g * xhat
        dgamma.data[i] += dy.data[r * d + i] * xhat
        dbeta.data[i] += dy.data[r * d + i]
      }
      meanG /= Double(d)
      meanGXhat /= Double(d)
      for i in 0..<d {
        let g = dy.data[r * d + i] * gamma.data[i]
        let xhat = (x.data[r * d + i] - mean) * rstd
        dx.data[r * d + i] = rstd * (g - meanG - xhat * meanGXhat)
      }
    }
    return (dx, dgamma, dbeta)
  }
}
