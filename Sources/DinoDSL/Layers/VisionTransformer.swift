import DinoOps

/// The Vision Transformer backbone of official DINO (`vision_transformer.py`'s
/// `VisionTransformer` as built by `vit_tiny`/`vit_small`/`vit_base`: `qkv_bias=True`,
/// LayerNorm eps 1e-6, no classifier): patch embedding, a CLS token, learned position
/// embeddings, pre-norm blocks, a final norm, and the CLS row as output `[B, dim]`.
///
/// Parameters (state-dict keys): `cls_token [1, 1, dim]`, `pos_embed [1, grid² + 1, dim]`
/// (both truncated normal σ 0.02, bounds ±2), `patch_embed.proj.weight [dim, C, p, p]`,
/// `patch_embed.proj.bias [dim]` (PyTorch's default Conv2d init), `blocks.i.*`, `norm.*`.
///
/// Inputs whose patch grid differs from `grid × grid` use the position table resampled by the
/// constant map of `posEmbedInterpolationMatrix` (a `matmul` with a `constant`, so gradients
/// reach `pos_embed` through its transpose).
public final class VisionTransformer: Layer {
  /// The patch projection.
  public let patchEmbed: PatchEmbed
  /// The learned CLS token.
  public let clsToken: Parameter
  /// The learned position table, CLS first.
  public let posEmbed: Parameter
  /// The transformer blocks.
  public let blocks: [TransformerBlock]
  /// The final LayerNorm.
  public let norm: LayerNorm
  /// The image side the position table is made for (official `img_size[0]`).
  public let imageSize: Int
  /// The patch size.
  public let patch: Int
  /// Input channels.
  public let channels: Int
  /// Token features.
  public let dim: Int
  /// Number of blocks.
  public let depth: Int
  /// Attention heads.
  public let heads: Int
  /// MLP width over `dim`.
  public let mlpRatio: Double
  /// The stochastic-depth rate of the last block (`drop_path_rate`).
  public let dropPath: Double

  /// The side of the position table's patch grid, `imageSize / patch`.
  public var grid: Int { imageSize / max(patch, 1) }
  /// How many `drop_path_mask` streams one call uses (two per block), starting at its
  /// `stream` argument.
  public var streamCount: Int { 2 * depth }

  /// State-dict names of the properties that differ from their Swift labels.
  public var parameterKeys: [String: String] {
    ["patchEmbed": "patch_embed", "clsToken": "cls_token", "posEmbed": "pos_embed"]
  }

  /// Creates a ViT.
  /// - Parameters:
  ///   - imageSize: the image side the position table is made for (DINO: 224).
  ///   - patch: patch size.
  ///   - channels: input channels.
  ///   - dim: token features (ViT-Tiny 192, Small 384, Base 768).
  ///   - depth: number of blocks.
  ///   - heads: attention heads; must divide `dim`.
  ///   - mlpRatio: MLP width over `dim`.
  ///   - dropPath: stochastic-depth rate of the last block; block `i` uses
  ///     `dropPathRates(dropPath, depth: depth)[i]`.
  public init(
    imageSize: Int = 224, patch: Int = 16, channels: Int = 3, dim: Int = 384, depth: Int = 12,
    heads: Int = 6, mlpRatio: Double = 4, dropPath: Double = 0,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    let loc = session.userLoc(file, line, column)
    for (name, value) in [
      ("patch", patch), ("channels", channels), ("dim", dim), ("depth", depth),
    ] where value < 1 {
      session.error("VisionTransformer: \(name) must be positive, got \(value)", at: loc)
    }
    if imageSize < max(patch, 1) {
      session.error(
        "VisionTransformer: imageSize \(imageSize) is smaller than the patch \(patch)", at: loc)
    }
    if !(0..<1).contains(dropPath) {
      session.error("VisionTransformer: dropPath \(dropPath) is not in [0, 1)", at: loc)
    }
    if !(mlpRatio > 0) {
      session.error("VisionTransformer: mlpRatio \(mlpRatio) must be positive", at: loc)
    }
    self.imageSize = imageSize
    self.patch = max(patch, 1)
    self.channels = max(channels, 1)
    self.dim = max(dim, 1)
    self.depth = max(depth, 1)
    self.heads = heads
    self.mlpRatio = mlpRatio > 0 ? mlpRatio : 4
    self.dropPath = (0..<1).contains(dropPath) ? dropPath : 0
    let side = max(imageSize / self.patch, 1)
    patchEmbed = PatchEmbed(
      channels: self.channels, dim: self.dim, patch: self.patch,
      file: file, line: line, column: column)
    let tokenInit = Initializer.truncNormal(std: 0.02, a: -2, b: 2)
    clsToken = Parameter([1, 1, self.dim], init: tokenInit, file: file, line: line, column: column)
    posEmbed = Parameter(
      [1, side * side + 1, self.dim], init: tokenInit, file: file, line: line, column: column)
    // After a bad dim, a consistent head count keeps the report to that one error.
    let (blockDim, blockHeads, ratio) = (self.dim, dim >= 1 ? heads : 1, self.mlpRatio)
    blocks = dropPathRates(self.dropPath, depth: self.depth).map { rate in
      TransformerBlock(
        dim: blockDim, heads: blockHeads, mlpRatio: ratio, dropPath: rate,
        file: file, line: line, column: column)
    }
    norm = LayerNorm(self.dim, eps: 1e-6, file: file, line: line, column: column)
  }

  /// The normalised CLS output `[B, dim]` of images `x [B, C, H, W]`, without stochastic depth.
  public func forward(_ x: Tensor) -> Tensor { features(x, seed: nil, stream: 0) }

  /// The CLS output `[B, dim]` in training mode: block `i` draws its attention- and MLP-branch
  /// masks on streams `stream + 2i` and `stream + 2i + 1` (blocks with rate 0 draw none).
  /// - Parameters:
  ///   - x: images `[B, C, H, W]`, `H` and `W` multiples of `patch`.
  ///   - seed: the step's `i32[]` seed, or `nil` for no stochastic depth.
  ///   - stream: the first mask stream of this call (see `streamCount`).
  /// - Returns: `[B, dim]`.
  public func callAsFunction(
    _ x: Tensor, seed: Tensor?, stream: Int = 0,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) { features(x, seed: seed, stream: stream) }
  }

  /// Patch tokens with the CLS token prepended and the position table (resampled when the
  /// grid differs) added: official `prepare_tokens`, `[B, (H/p)·(W/p) + 1, dim]`.
  /// - Parameters:
  ///   - x: images `[B, C, H, W]`.
  /// - Returns: the tokens entering block 0.
  public func prepareTokens(
    _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) { tokens(x) }
  }

  /// The softmax attention weights `[B, heads, N, N]` of the last block (official
  /// `get_last_selfattention`): blocks `0 … depth−2` run normally, then the last block's
  /// attention of its normalised input.
  /// - Parameters:
  ///   - x: images `[B, C, H, W]`.
  /// - Returns: `[B, heads, N, N]`, `N = (H/p)·(W/p) + 1`.
  public func lastSelfAttention(
    _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) { lastAttention(x) }
  }

  /// The last block's attention of the CLS query over the patch keys, `[B, heads, n]`
  /// (`get_last_selfattention(x)[:, :, 0, 1:]`, what DINO's attention maps show).
  /// - Parameters:
  ///   - x: images `[B, C, H, W]`.
  /// - Returns: `[B, heads, (H/p)·(W/p)]`.
  public func clsAttention(
    _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) {
      let weights = lastAttention(x)
      guard weights.rank == 4 else { return weights }
      let b = weights.shape[0]
      let h = weights.shape[1]
      let n = weights.shape[3]
      let row = slice(weights, axis: 2, 0..<1)
      return reshape(slice(row, axis: 3, 1..<max(n, 2)), [b, h, max(n - 1, 1)])
    }
  }

  private func lastAttention(_ x: Tensor) -> Tensor {
    var t = tokens(x)
    for block in blocks.dropLast() { t = block(t) }
    return blocks[blocks.count - 1].attentionWeights(t)
  }

  private func features(_ x: Tensor, seed: Tensor?, stream: Int) -> Tensor {
    var t = tokens(x)
    for (i, block) in blocks.enumerated() {
      t = block(t, seed: seed, stream: stream + 2 * i)
    }
    guard t.rank == 3 else { return t }
    // norm(x)[:, 0]: LayerNorm acts row by row, so normalising only the CLS row is identical.
    let cls = reshape(slice(t, axis: 1, 0..<1), [t.shape[0], t.shape[2]])
    return norm(cls)
  }

  private func tokens(_ x: Tensor) -> Tensor {
    // Read in state-dict order: cls_token, pos_embed, then patch_embed.proj.
    let cls = clsToken.value
    let table = posEmbed.value
    guard x.rank == 4 else {
      if x.isValid {
        session.error(
          "VisionTransformer expects images [B, C, H, W], got \(shapeText(x.shape))",
          at: session.scopes.last?.loc ?? x.loc)
      }
      return session.invalid([max(x.shape.first ?? 1, 1), 1, dim], at: x.loc)
    }
    let b = x.shape[0]
    let rows = x.shape[2] / patch
    let cols = x.shape[3] / patch
    let patches = patchEmbed(x)
    var t = concat([broadcast(cls, to: [b, 1, dim]), patches], axis: 1)
    if rows == grid && cols == grid {
      t = t + table
    } else if rows >= 1 && cols >= 1 {
      let map = constant(
        posEmbedInterpolationMatrix(grid: grid, rows: rows, cols: cols),
        shape: [rows * cols + 1, grid * grid + 1])
      t = t + matmul(map, reshape(table, [grid * grid + 1, dim]))
    }
    return t
  }
}
