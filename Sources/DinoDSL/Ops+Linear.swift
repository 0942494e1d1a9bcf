import DinoOps

/// Matrix product over the last two dimensions: `a [..., M, K] · b [..., K, N]`.
///
/// `b` may be 2-D and shared across `a`'s batch dimensions.
/// - Parameters:
///   - a: the left operand.
///   - b: the right operand.
///   - transposeA: use `a`'s last two dimensions swapped.
///   - transposeB: use `b`'s last two dimensions swapped.
/// - Returns: `[..., M, N]`.
public func matmul(
  _ a: Tensor, _ b: Tensor, transposeA: Bool = false, transposeB: Bool = false,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  var guess = a.shape
  if a.rank >= 2 && b.rank >= 2 {
    guess[a.rank - 2] = transposeA ? a.shape[a.rank - 1] : a.shape[a.rank - 2]
    guess[a.rank - 1] = transposeB ? b.shape[b.rank - 2] : b.shape[b.rank - 1]
  }
  return session.record(
    .matmul, [a, b], ["trans_a": .int(transposeA ? 1 : 0), "trans_b": .int(transposeB ? 1 : 0)],
    at: loc, fallback: TensorType(.f32, guess))
}

/// `x · weightᵀ + bias`, PyTorch's `F.linear`.
/// - Parameters:
///   - x: `[..., in]`.
///   - weight: `[out, in]`.
///   - bias: `[out]`, or `nil` for none (then a `matmul` with `weight` transposed).
/// - Returns: `[..., out]`.
public func linear(
  _ x: Tensor, _ weight: Tensor, _ bias: Tensor? = nil,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  guard let bias else {
    return matmul(x, weight, transposeB: true, file: file, line: line, column: column)
  }
  let loc = session.userLoc(file, line, column)
  let guess = Array(x.shape.dropLast()) + [weight.shape.first ?? 1]
  return session.record(.linear, [x, weight, bias], at: loc, fallback: TensorType(.f32, guess))
}

/// Patch embedding, a stride-`patch` convolution with kernel `patch`, flattened to tokens.
/// - Parameters:
///   - x: images `[B, C, H, W]`.
///   - weight: `[D, C, patch, patch]`.
///   - bias: `[D]`.
///   - patch: the patch size; `H` and `W` must be multiples of it.
/// - Returns: `[B, (H/patch)·(W/patch), D]`, tokens row-major over the patch grid.
public func patchEmbed(
  _ x: Tensor, _ weight: Tensor, _ bias: Tensor, patch: Int,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  var guess = [x.shape.first ?? 1, 1, weight.shape.first ?? 1]
  if x.rank == 4 && patch > 0 { guess[1] = (x.shape[2] / patch) * (x.shape[3] / patch) }
  return session.record(
    .patchEmbed, [x, weight, bias], ["patch": .int(patch)], at: loc,
    fallback: TensorType(.f32, guess))
}

/// Cuts images into flattened patches, in `(c, i, j)` order (matching
/// `weight.reshape(D, C·p·p)` of `patchEmbed`).
/// - Parameters:
///   - x: images `[B, C, H, W]`.
///   - patch: the patch size.
/// - Returns: `[B, (H/patch)·(W/patch), C·patch·patch]`.
public func patchify(
  _ x: Tensor, patch: Int, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  var guess = [x.shape.first ?? 1, 1, 1]
  if x.rank == 4 && patch > 0 {
    guess = [x.shape[0], (x.shape[2] / patch) * (x.shape[3] / patch), x.shape[1] * patch * patch]
  }
  return session.record(
    .patchify, [x], ["patch": .int(patch)], at: loc, fallback: TensorType(.f32, guess))
}
