import DinoIR
import Foundation

extension ReferenceInterpreter {
  /// Per row of the last axis: the maximum and log Σ exp(x − max).
  static func rowLogSumExp(_ x: ReferenceTensor, row r: Int) -> (max: Double, logSum: Double) {
    let d = rows(x).length
    var top = -Double.infinity
    for i in 0..<d { top = max(top, x.data[r * d + i]) }
    var sum = 0.0
    for i in 0..<d { sum += exp(x.data[r * d + i] - top) }
    return (top, log(sum))
  }

  /// `softmax(x)`: y = exp(x − max)/Σ exp(x − max) per row.
  public static func softmax(_ x: ReferenceTensor) -> ReferenceTensor {
    let (n, d) = rows(x)
    var y = ReferenceTensor(shape: x.shape)
    for r in 0..<n {
      let (top, logSum) = rowLogSumExp(x, row: r)
      for i in 0..<d { y.data[r * d + i] = exp(x.data[r * d + i] - top - logSum) }
    }
    return y
  }

  /// `log_softmax(x)`: y = x − max − log Σ exp(x − max) per row.
  public static func logSoftmax(_ x: ReferenceTensor) -> ReferenceTensor {
    let (n, d) = rows(x)
    var y = ReferenceTensor(shape: x.shape)
    for r in 0..<n {
      let (top, logSum) = rowLogSumExp(x, row: r)
      for i in 0..<d { y.data[r * d + i] = x.data[r * d + i] - top - logSum }
    }
    return y
  }

  /// `softmax_bwd(dy, y)` = y·(dy − Σ_row dy·y).
  public static func softmaxBwd(_ dy: ReferenceTensor, _ y: ReferenceTensor) -> ReferenceTensor {
    let (n, d) = rows(y)
    var dx = ReferenceTensor(shape: y.shape)
    for r in 0..<n {
      var dot = 0.0
      for i in 0..<d { dot += dy.data[r * d + i] * y.data[r * d + i] }
      for i in 0..<d { dx.data[r * d + i] = y.data[r * d + i] * (dy.data[r * d + i] - dot) }
    }
    return dx
  }

  /// `log_softmax_bwd(dy, y)` = dy − exp(y)·Σ_row dy.
  public static func logSoftmaxBwd(_ dy: ReferenceTensor, _ y: ReferenceTensor) -> ReferenceTensor {
    let (n, d) = rows(y)
    var dx = ReferenceTensor(shape: y.shape)
    for r in 0..<n {
      var sum = 0.0
      for i in 0..<d { sum += dy.data[r * d + i] }
      for i in 0..<d { dx.data[r * d + i] = dy.data[r * d + i] - exp(y.data[r * d + i]) * sum }
    }
    return dx
  }
}
