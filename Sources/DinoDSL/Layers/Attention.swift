import DinoOps

/// Multi-head self-attention, official DINO's `Attention` with `qkv_bias=True`:
/// `qkv` is one `Linear(dim, 3·dim)` whose outputs are laid out `[3][heads][headDim]`,
/// `softmax(q·kᵀ · headDim^-½)` over keys, heads concatenated in order, then `proj`.
///
/// Parameters: `qkv.weight [3·dim, dim]`, `qkv.bias [3·dim]`, `proj.weight [dim, dim]`,
/// `proj.bias [dim]`.
public final class Attention: Layer {
  /// `dim → 3·dim`.
  public let qkv: Linear
  /// `dim → dim`.
  public let proj: Linear
  /// Number of heads.
  public let heads: Int
  /// `headDim^-½` with `headDim = dim / heads` (integer division, as `dim // num_heads`).
  public let scale: Double
  /// Whether `heads` divides `dim` (else the error is reported once, at the initialiser, and
  /// the layer records nothing).
  private let isConsistent: Bool

  /// Creates the attention layer.
  /// - Parameters:
  ///   - dim: token features; a multiple of `heads`.
  ///   - heads: number of heads.
  ///   - qkvBias: whether `qkv` has a bias (DINO's ViTs: true).
  public init(
    dim: Int, heads: Int, qkvBias: Bool = true,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    let loc = session.userLoc(file, line, column)
    isConsistent = heads >= 1 && dim % max(heads, 1) == 0
    if !isConsistent {
      session.error("attention: dim \(dim) is not a multiple of heads \(heads)", at: loc)
    }
    self.heads = max(heads, 1)
    let headDim = max(dim / self.heads, 1)
    scale = 1 / Double(headDim).squareRoot()
    qkv = Linear(dim, 3 * dim, bias: qkvBias, file: file, line: line, column: column)
    proj = Linear(dim, dim, file: file, line: line, column: column)
  }

  /// `proj(softmax(q·kᵀ·scale)·v)` for tokens `x [B, N, dim]`.
  public func forward(_ x: Tensor) -> Tensor {
    guard let attention = weightsAndValues(x) else { return session.invalid(x.shape, at: x.loc) }
    let b = x.shape[0]
    let n = x.shape[1]
    let c = x.shape[2]
    // (attn @ v).transpose(1, 2).reshape(B, N, C)
    let mixed = matmul(attention.weights, attention.values)
    return proj(reshape(permute(mixed, [0, 2, 1, 3]), [b, n, c]))
  }

  /// The softmax attention weights `[B, heads, N, N]` for tokens `x [B, N, dim]` (official
  /// `Attention.forward`'s second result).
  /// - Parameters:
  ///   - x: the (normalised) tokens.
  /// - Returns: row `i` of head `h` holds query `i`'s weights over all keys.
  public func attentionWeights(
    _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) {
      weightsAndValues(x)?.weights ?? session.invalid([1, heads, 1, 1], at: x.loc)
    }
  }

  /// The attention weights `[B, H, N, N]` and the values `[B, H, N, hd]`, or `nil` (with an
  /// error) when `x` is not `[B, N, dim]`.
  private func weightsAndValues(_ x: Tensor) -> (weights: Tensor, values: Tensor)? {
    guard isConsistent else { return nil }
    guard x.rank == 3 else {
      if x.isValid {
        session.error(
          "attention expects tokens [B, N, dim], got \(shapeText(x.shape))",
          at: session.scopes.last?.loc ?? x.loc)
      }
      return nil
    }
    let b = x.shape[0]
    let n = x.shape[1]
    let c = x.shape[2]
    let headDim = max(c / heads, 1)
    // qkv(x).reshape(B, N, 3, heads, hd).permute(2, 0, 3, 1, 4); q, k, v = qkv[0], qkv[1], qkv[2]
    let packed = permute(reshape(qkv(x), [b, n, 3, heads, headDim]), [2, 0, 3, 1, 4])
    func part(_ i: Int) -> Tensor {
      reshape(slice(packed, axis: 0, i..<(i + 1)), [b, heads, n, headDim])
    }
    let q = part(0)
    let k = part(1)
    let v = part(2)
    // (q @ k.transpose(-2, -1)) * scale, softmax over keys.
    let weights = softmax(matmul(q, k, transposeB: true) * scale)
    return (weights, v)
  }
}
