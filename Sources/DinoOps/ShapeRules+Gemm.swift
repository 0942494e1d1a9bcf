/// The shape rules of the GEMM ops and of the fused GEMMs built on them.
extension ShapeRuleInput {
  /// `matmul`'s result (also `matmul_gelu_bwd`'s): `[..., M, N]` from op(a)·op(b).
  func matmulShape() throws(ShapeError) -> TensorType {
    guard s[0].count >= 2, s[1].count >= 2 else {
      throw ShapeError(
        "\(op.name): operands must have rank >= 2, got \(shapeText(s[0])) x \(shapeText(s[1]))")
    }
    let ta = attrs.int("trans_a") != 0, tb = attrs.int("trans_b") != 0
    let a = s[0], b = s[1]
    let (m, ka) = ta ? (a[a.count - 1], a[a.count - 2]) : (a[a.count - 2], a[a.count - 1])
    let (kb, n) = tb ? (b[b.count - 1], b[b.count - 2]) : (b[b.count - 2], b[b.count - 1])
    if ka != kb {
      throw ShapeError("\(op.name): \(shapeText(a)) x \(shapeText(b)) — inner dimensions differ")
    }
    let batchA = Array(a.dropLast(2)), batchB = Array(b.dropLast(2))
    if !batchB.isEmpty && batchA != batchB {
      throw ShapeError("\(op.name): \(shapeText(a)) x \(shapeText(b)) — batch dimensions differ")
    }
    return f32(batchA + [m, n])
  }

  /// `linear`'s result `[..., out]` (also its fused forms'), with the fused operands checked:
  /// a residual of the result's shape, a per-leading-index scale `[B, 1, ..., 1]`.
  func linearShape() throws(ShapeError) -> TensorType {
    guard let inDim = s[0].last, s[1].count == 2, s[2].count == 1 else {
      throw ShapeError("\(op.name): expects x [...,in], weight [out,in], bias [out]")
    }
    if s[1][1] != inDim {
      throw ShapeError(
        "\(op.name): weight \(shapeText(s[1])) expects last dim \(s[1][1]), got \(inDim)")
    }
    if s[2][0] != s[1][0] {
      throw ShapeError(
        "\(op.name): bias \(shapeText(s[2])) does not match weight \(shapeText(s[1]))")
    }
    let out = Array(s[0].dropLast()) + [s[1][0]]
    if op == .linearResidual || op == .linearResidualScaled, s[3] != out {
      throw ShapeError(
        "\(op.name): residual \(shapeText(s[3])) differs from \(shapeText(out))")
    }
    if op == .linearResidualScaled {
      let scale = [out[0]] + Array(repeating: 1, count: out.count - 1)
      if out.count < 2 || s[4] != scale {
        throw ShapeError(
          "\(op.name): scale \(shapeText(s[4])) must be \(shapeText(scale)) (one per leading "
            + "index) on a result of rank >= 2")
      }
    }
    return f32(out)
  }
}
