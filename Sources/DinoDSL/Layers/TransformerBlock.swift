import DinoOps

/// The per-block stochastic-depth rates of official DINO's ViT:
/// `[x.item() for x in torch.linspace(0, rate, depth)]`, computed as PyTorch's CPU linspace
/// does in float32 (`step = (end − start)/(depth − 1)`, `start + step·i` for the first half,
/// `end − step·(depth − 1 − i)` for the second) and widened to `Double`.
///
/// PyTorch evaluates linspace with SIMD lanes for 16 or more steps, which can move a rate by an
/// ulp of float32 there; for the ViT depths DINO uses (12) this is the exact value.
/// - Parameters:
///   - rate: the drop-path rate of the last block.
///   - depth: the number of blocks.
/// - Returns: `depth` rates, the first one 0.
public func dropPathRates(_ rate: Double, depth: Int) -> [Double] {
  guard depth > 1 else { return depth == 1 ? [0] : [] }
  let start: Float = 0
  let end = Float(rate)
  let step = (end - start) / Float(depth - 1)
  let halfway = depth / 2
  return (0..<depth).map { i in
    Double(i < halfway ? start + step * Float(i) : end - step * Float(depth - 1 - i))
  }
}

/// Stochastic depth (official `drop_path`): each of the `B` samples of a residual branch
/// `x [B, …]` is kept, scaled by `1/(1 − rate)`, with probability `1 − rate`, else zeroed.
///
/// The mask is a `drop_path_mask` node keyed by the step's `seed` and `stream`; a distinct
/// stream gives an independent mask. With `rate` 0 it records nothing and returns `x`.
/// - Parameters:
///   - x: the branch output, batch first.
///   - rate: the drop probability, in `[0, 1)`.
///   - seed: the step's `i32[]` seed input.
///   - stream: distinguishes this mask from the step's others; `nil` takes the program's next
///     free stream.
/// - Returns: `x · mask` with the mask broadcast over all but the first dimension.
public func dropPath(
  _ x: Tensor, rate: Double, seed: Tensor, stream: Int? = nil,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  guard rate > 0, x.rank >= 1 else { return x }
  let mask = dropPathMask(
    seed: seed, rate: rate, batch: x.shape[0], stream: stream,
    file: file, line: line, column: column)
  let shape = [x.shape[0]] + [Int](repeating: 1, count: x.rank - 1)
  return x * reshape(mask, shape, file: file, line: line, column: column)
}

/// A pre-norm transformer block, official DINO's `Block`:
/// `x + dropPath(attn(norm1(x)))`, then `x + dropPath(mlp(norm2(x)))`, with LayerNorm eps
/// 1e-6, exact-GELU MLP of width `Int(dim · mlpRatio)`, and independent drop-path masks for the
/// two branches (none at all when the rate is 0, the official `nn.Identity`).
///
/// Parameters: `norm1`, `attn.qkv`, `attn.proj`, `norm2`, `mlp.fc1`, `mlp.fc2`.
public final class TransformerBlock: Layer {
  /// Before attention.
  public let norm1: LayerNorm
  /// Multi-head self-attention.
  public let attn: Attention
  /// Before the MLP.
  public let norm2: LayerNorm
  /// `fc1 → GELU → fc2`.
  public let mlp: MLP
  /// This block's drop-path rate.
  public let dropPathRate: Double

  /// Creates a block.
  /// - Parameters:
  ///   - dim: token features.
  ///   - heads: attention heads.
  ///   - mlpRatio: MLP width over `dim`.
  ///   - dropPath: this block's drop-path rate.
  public init(
    dim: Int, heads: Int, mlpRatio: Double = 4, dropPath: Double = 0,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    norm1 = LayerNorm(dim, eps: 1e-6, file: file, line: line, column: column)
    attn = Attention(dim: dim, heads: heads, file: file, line: line, column: column)
    norm2 = LayerNorm(dim, eps: 1e-6, file: file, line: line, column: column)
    mlp = MLP(dim, Int(Double(dim) * mlpRatio), dim, file: file, line: line, column: column)
    dropPathRate = dropPath
  }

  /// The block without stochastic depth (evaluation, or a rate of 0).
  public func forward(_ x: Tensor) -> Tensor { apply(x, seed: nil, stream: 0) }

  /// The block in training mode: branch masks from `seed` on streams `stream` (attention) and
  /// `stream + 1` (MLP).
  /// - Parameters:
  ///   - x: tokens `[B, N, dim]`.
  ///   - seed: the step's `i32[]` seed, or `nil` for no stochastic depth.
  ///   - stream: the attention branch's mask stream; the MLP branch uses `stream + 1`.
  /// - Returns: tokens `[B, N, dim]`.
  public func callAsFunction(
    _ x: Tensor, seed: Tensor?, stream: Int,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) { apply(x, seed: seed, stream: stream) }
  }

  /// The softmax attention weights `[B, heads, N, N]` of this block for input tokens `x`
  /// (official `blk(x, return_attention=True)`).
  /// - Parameters:
  ///   - x: the block's input tokens.
  /// - Returns: the attention weights.
  public func attentionWeights(
    _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) { attn.attentionWeights(norm1(x)) }
  }

  private func apply(_ x: Tensor, seed: Tensor?, stream: Int) -> Tensor {
    func branch(_ y: Tensor, _ offset: Int) -> Tensor {
      guard let seed else { return y }
      return dropPath(y, rate: dropPathRate, seed: seed, stream: stream + offset)
    }
    let x = x + branch(attn(norm1(x)), 0)
    return x + branch(mlp(norm2(x)), 1)
  }
}
