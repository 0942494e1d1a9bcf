// Position-embedding interpolation as a compile-time constant linear map: official DINO's
// `VisionTransformer.interpolate_pos_encoding` (docs/DINO.md §2.3), which calls
// `F.interpolate(mode='bicubic', align_corners=False, scale_factor=(h0 + 0.1)/M)`.

/// The weights of PyTorch's 1-D bicubic resampling (`upsample_bicubic2d` along one axis,
/// `align_corners=False`, no antialias) for a given `scale_factor`.
///
/// Output index `o` samples source position `src = (o + 0.5) · (1 / scaleFactor) − 0.5`: the
/// scale factor itself sets the coordinates, not `inputSize/outputSize`. It takes 4 taps with
/// the cubic-convolution kernel `A = −0.75` at `floor(src) − 1 … floor(src) + 2`, source
/// indices clamped to `[0, inputSize − 1]` (the weights of clamped taps add up).
/// - Parameters:
///   - inputSize: the source length `M`.
///   - outputSize: the number of output samples.
///   - scaleFactor: PyTorch's `scale_factor` for this axis.
/// - Returns: row-major `[outputSize][inputSize]` weights; each row sums to 1.
public func bicubicInterpolationWeights(
  inputSize: Int, outputSize: Int, scaleFactor: Double
) -> [[Double]] {
  precondition(inputSize > 0 && outputSize > 0 && scaleFactor > 0, "bicubic: bad sizes")
  // torch: area_pixel_compute_scale → compute_scales_value = 1.0 / scale_factor.
  let ratio = 1.0 / scaleFactor
  let a = -0.75
  func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }  // |x| ≤ 1
  func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }  // 1 < |x| < 2
  var weights = [[Double]](
    repeating: [Double](repeating: 0, count: inputSize), count: outputSize)
  for o in 0..<outputSize {
    // area_pixel_compute_source_index(cubic: true): no clamping of the coordinate itself.
    let src = ratio * (Double(o) + 0.5) - 0.5
    // guard_index_and_lambda: index capped at M − 1, lambda clamped to [0, 1].
    let index = min(Int(Double(Float(src)).rounded(.down)), inputSize - 1)
    let t = min(max(src - Double(index), 0), 1)
    let taps = [far(t + 1), near(t), near(1 - t), far(2 - t)]
    for (k, w) in taps.enumerated() {
      let i = min(max(index - 1 + k, 0), inputSize - 1)
      weights[o][i] += w
    }
  }
  return weights
}

/// The constant matrix that maps a ViT's position-embedding table to the table used for an
/// input of `rows × cols` patches, exactly as official DINO's `interpolate_pos_encoding`.
///
/// The table has `grid² + 1` rows (CLS first, then the `grid × grid` patch positions
/// row-major); the result has `rows · cols + 1` rows. Row 0 (CLS) is copied. When
/// `rows == cols == grid` the map is the identity (the official early return). Otherwise the
/// patch table is resampled by bicubic interpolation with scale factors `(rows + 0.1)/grid`
/// along the grid's rows (image height) and `(cols + 0.1)/grid` along its columns (image
/// width) — the `+0.1` shifts the sampling positions (torch uses the scale factor, not the
/// output size, for the coordinates). The official code calls the height `w` and the width
/// `h`; the axes themselves are matched here. Applied as `matmul(map, table)`, its gradient is
/// the transpose.
/// - Parameters:
///   - grid: `M`, the side of the square patch grid the table was made for (`imageSize/patch`).
///   - rows: patch rows of the input (`H/patch`).
///   - cols: patch columns of the input (`W/patch`).
/// - Returns: the row-major `[rows·cols + 1, grid² + 1]` matrix.
public func posEmbedInterpolationMatrix(grid: Int, rows: Int, cols: Int) -> [Float] {
  precondition(grid > 0 && rows > 0 && cols > 0, "posEmbedInterpolationMatrix: bad sizes")
  let inCount = grid * grid + 1
  let outCount = rows * cols + 1
  var matrix = [Float](repeating: 0, count: outCount * inCount)
  matrix[0] = 1
  if rows == grid && cols == grid {
    for i in 1..<inCount { matrix[i * inCount + i] = 1 }
    return matrix
  }
  // Python: w0 = w0 + 0.1; scale_factor = w0 / math.sqrt(N), in double precision.
  let m = Double(grid)
  let rowWeights = bicubicInterpolationWeights(
    inputSize: grid, outputSize: rows, scaleFactor: (Double(rows) + 0.1) / m)
  let colWeights = bicubicInterpolationWeights(
    inputSize: grid, outputSize: cols, scaleFactor: (Double(cols) + 0.1) / m)
  for r in 0..<rows {
    for c in 0..<cols {
      let out = 1 + r * cols + c
      for i in 0..<grid where rowWeights[r][i] != 0 {
        for j in 0..<grid where colWeights[c][j] != 0 {
          matrix[out * inCount + 1 + i * grid + j] = Float(rowWeights[r][i] * colWeights[c][j])
        }
      }
    }
  }
  return matrix
}
