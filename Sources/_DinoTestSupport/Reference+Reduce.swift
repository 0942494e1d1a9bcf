import DinoIR

extension ReferenceInterpreter {
  /// `reduce_sum` / `reduce_mean` along `axis`, keeping it as 1 when `keepdims`.
  public static func reduce(_ x: ReferenceTensor, axis: Int, keepdims: Bool, mean: Bool)
    -> ReferenceTensor
  {
    let (outer, extent, inner) = split(x.shape, axis: axis)
    var shape = x.shape
    if keepdims { shape[axis] = 1 } else { shape.remove(at: axis) }
    var y = ReferenceTensor(shape: shape)
    for o in 0..<outer {
      for i in 0..<inner {
        var sum = 0.0
        for k in 0..<extent { sum += x.data[(o * extent + k) * inner + i] }
        y.data[o * inner + i] = mean ? sum / Double(extent) : sum
      }
    }
    return y
  }

  /// `sum_to(x) {shape}`: the sum of x over the dims where `shape` broadcasts to x's shape
  /// (the adjoint of `broadcast_to`).
  public static func sum(_ x: ReferenceTensor, to shape: [Int]) -> ReferenceTensor {
    var y = ReferenceTensor(shape: shape)
    for flat in 0..<x.count {
      y.data[broadcastSource(flat, x.shape, shape)] += x.data[flat]
    }
    return y
  }
}
