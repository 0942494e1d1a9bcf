/// The shape rules of the weight-normalised linear layer's fused GEMMs.
extension ShapeRuleInput {
  /// `linear_weight_norm(x[M, K], v[N, K], g[N, 1])` → `[M, N]`; also checks the operands
  /// `linear_weight_norm_bwd` shares with it (x, v, g at `first`, `first + 1`, `first + 2`).
  /// - Returns: the forward's result type.
  func linearWeightNormShape(first: Int = 0) throws(ShapeError) -> TensorType {
    let (x, v, g) = (s[first], s[first + 1], s[first + 2])
    guard x.count == 2, v.count == 2 else {
      throw ShapeError(
        "\(op.name): expects x [M, K] and v [N, K], got \(shapeText(x)) and \(shapeText(v))")
    }
    if v[1] != x[1] {
      throw ShapeError(
        "\(op.name): v \(shapeText(v)) expects x's last dim \(v[1]), got \(shapeText(x))")
    }
    if g != [v[0], 1] {
      throw ShapeError("\(op.name): g must be [\(v[0]),1], got \(shapeText(g))")
    }
    return f32([x[0], v[0]])
  }

  /// `linear_weight_norm_bwd(dy[M, N], x[M, K], v[N, K], g[N, 1]) {grad_g}` → dx `[M, K]`
  /// (dv and dg are `extraResultTypes`).
  func linearWeightNormBwdShape() throws(ShapeError) -> TensorType {
    let y = try linearWeightNormShape(first: 1)
    if s[0] != y.shape {
      throw ShapeError("\(op.name): dy must be \(shapeText(y.shape)), got \(shapeText(s[0]))")
    }
    let gradG = attrs.int("grad_g")
    if gradG != 0 && gradG != 1 {
      throw ShapeError("\(op.name): grad_g must be 0 or 1, got \(gradG)")
    }
    return f32(s[1])
  }
}
