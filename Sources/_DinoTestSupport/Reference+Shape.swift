import DinoIR

extension ReferenceInterpreter {
  /// `permute(x) {perm}`: y[i₀, …] = x[j] with j[perm[k]] = i_k.
  public static func permute(_ x: ReferenceTensor, _ perm: [Int]) -> ReferenceTensor {
    let shape = perm.map { x.shape[$0] }
    return ReferenceTensor(shape: shape) { flat in
      let out = ReferenceTensor.multiIndex(flat, shape)
      var source = Array(repeating: 0, count: x.rank)
      for k in 0..<perm.count { source[perm[k]] = out[k] }
      return x[source]
    }
  }

  /// Splits `shape` around `axis`: (product before, extent, product after).
  static func split(_ shape: [Int], axis: Int) -> (outer: Int, extent: Int, inner: Int) {
    (shape[..<axis].reduce(1, *), shape[axis], shape[(axis + 1)...].reduce(1, *))
  }

  /// `concat(x₀, …) {axis}`: the operands joined along `axis`.
  public static func concat(_ xs: [ReferenceTensor], axis: Int) -> ReferenceTensor {
    var shape = xs[0].shape
    shape[axis] = xs.reduce(0) { $0 + $1.shape[axis] }
    let (outer, _, inner) = split(shape, axis: axis)
    var data: [Double] = []
    data.reserveCapacity(shape.reduce(1, *))
    for o in 0..<outer {
      for x in xs {
        let chunk = x.shape[axis] * inner
        data += x.data[(o * chunk)..<((o + 1) * chunk)]
      }
    }
    return ReferenceTensor(shape: shape, data: data)
  }

  /// `slice(x) {axis, start, end}`: x[…, start:end, …].
  public static func slice(_ x: ReferenceTensor, axis: Int, start: Int, end: Int) -> ReferenceTensor
  {
    let (outer, extent, inner) = split(x.shape, axis: axis)
    var shape = x.shape
    shape[axis] = end - start
    var data: [Double] = []
    for o in 0..<outer {
      for k in start..<end {
        let base = (o * extent + k) * inner
        data += x.data[base..<(base + inner)]
      }
    }
    return ReferenceTensor(shape: shape, data: data)
  }

  /// `pad(x) {axis, before, after}`: `before` zeros, x, `after` zeros along `axis`.
  public static func pad(_ x: ReferenceTensor, axis: Int, before: Int, after: Int)
    -> ReferenceTensor
  {
    let (outer, extent, inner) = split(x.shape, axis: axis)
    var shape = x.shape
    shape[axis] = before + extent + after
    var data: [Double] = []
    for o in 0..<outer {
      data += Array(repeating: 0, count: before * inner)
      data += x.data[(o * extent * inner)..<((o + 1) * extent * inner)]
      data += Array(repeating: 0, count: after * inner)
    }
    return ReferenceTensor(shape: shape, data: data)
  }

  /// `broadcast_to(x) {shape}`: x repeated along its size-1 and missing leading dims.
  public static func broadcast(_ x: ReferenceTensor, to shape: [Int]) -> ReferenceTensor {
    ReferenceTensor(shape: shape) { flat in x.data[broadcastSource(flat, shape, x.shape)] }
  }

  /// `patchify(x[B,C,H,W]) {patch}` → `[B, (H/p)(W/p), C·p·p]`:
  /// y[b, r·(W/p)+s, (c·p+i)·p+j] = x[b, c, p·r+i, p·s+j].
  public static func patchify(_ x: ReferenceTensor, patch p: Int) -> ReferenceTensor {
    let (batch, channels, height, width) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let gridH = height / p
    let gridW = width / p
    var y = ReferenceTensor(shape: [batch, gridH * gridW, channels * p * p])
    for b in 0..<batch {
      for r in 0..<gridH {
        for s in 0..<gridW {
          for c in 0..<channels {
            for i in 0..<p {
              for j in 0..<p {
                let token = b * gridH * gridW + r * gridW + s
                let xi = ((b * channels + c) * height + p * r + i) * width + p * s + j
                y.data[token * channels * p * p + (c * p + i) * p + j] = x.data[xi]
              }
            }
          }
        }
      }
    }
    return y
  }
}
