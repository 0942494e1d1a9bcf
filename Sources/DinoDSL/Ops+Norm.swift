import DinoOps

/// Layer normalisation over the last axis: `(x − mean) / √(var + eps) · weight + bias`.
/// - Parameters:
///   - x: `[..., D]`.
///   - weight: `[D]` (gamma).
///   - bias: `[D]` (beta).
///   - eps: added to the variance.
/// - Returns: a tensor of `x`'s shape.
public func layerNorm(
  _ x: Tensor, weight: Tensor, bias: Tensor, eps: Double = 1e-6,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .layerNorm, [x, weight, bias], ["eps": .float(eps)], at: session.userLoc(file, line, column),
    fallback: x.type)
}

/// Divides each row (last axis) by its L2 norm, `x / max(‖x‖, eps)` (PyTorch's `F.normalize`).
/// - Parameters:
///   - x: the tensor.
///   - eps: the smallest norm divided by.
/// - Returns: a tensor of `x`'s shape.
public func l2Normalize(
  _ x: Tensor, eps: Double = 1e-12,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .l2Normalize, [x], ["eps": .float(eps)], at: session.userLoc(file, line, column),
    fallback: x.type)
}

/// Weight normalisation (`torch.nn.utils.weight_norm`, dim 0): row `k` of the result is
/// `g[k] · v[k] / ‖v[k]‖`.
/// - Parameters:
///   - v: the direction `[K, C]`.
///   - g: the magnitude `[K, 1]`.
/// - Returns: the weight `[K, C]`.
public func weightNorm(
  _ v: Tensor, _ g: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.weightNorm, [v, g], at: session.userLoc(file, line, column), fallback: v.type)
}
