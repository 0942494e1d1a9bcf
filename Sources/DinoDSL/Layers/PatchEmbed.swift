/// A convolution whose kernel and stride both equal `patch` (PyTorch's
/// `nn.Conv2d(channels, dim, kernel_size=patch, stride=patch)`), applied as the `patch_embed`
/// op: images `[B, C, H, W]` become tokens `[B, (H/patch)·(W/patch), dim]`, row-major over
/// the patch grid (the official `proj(x).flatten(2).transpose(1, 2)`).
///
/// Parameters: `weight [dim, C, patch, patch]` and `bias [dim]`, both uniform in
/// `±1/√(C·patch²)`: PyTorch's default Conv2d initialisation, which DINO keeps.
public final class PatchConv: Layer {
  /// `[dim, channels, patch, patch]`.
  public let weight: Parameter
  /// `[dim]`.
  public let bias: Parameter
  /// Kernel size and stride.
  public let patch: Int

  /// Creates the projection.
  /// - Parameters:
  ///   - channels: input channels `C`.
  ///   - dim: output features per token.
  ///   - patch: kernel size and stride.
  public init(
    channels: Int, dim: Int, patch: Int,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    // kaiming_uniform_(a=√5) gives bound 1/√fan_in for the weight; the bias uses the same.
    let bound = 1 / Double(max(channels * patch * patch, 1)).squareRoot()
    weight = Parameter(
      [dim, channels, patch, patch], init: .uniform(-bound, bound),
      file: file, line: line, column: column)
    bias = Parameter([dim], init: .uniform(-bound, bound), file: file, line: line, column: column)
    self.patch = patch
  }

  /// Tokens `[B, (H/patch)·(W/patch), dim]` of images `x [B, C, H, W]`.
  public func forward(_ x: Tensor) -> Tensor {
    patchEmbed(x, weight.value, bias.value, patch: patch)
  }
}

/// The ViT's patch embedding, official `PatchEmbed`: its only child is `proj`, so the
/// parameters are `patch_embed.proj.weight` and `patch_embed.proj.bias`.
public final class PatchEmbed: Layer {
  /// The strided convolution.
  public let proj: PatchConv

  /// Creates the patch embedding.
  /// - Parameters:
  ///   - channels: input channels.
  ///   - dim: embedding dimension.
  ///   - patch: patch size.
  public init(
    channels: Int, dim: Int, patch: Int,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    proj = PatchConv(
      channels: channels, dim: dim, patch: patch, file: file, line: line, column: column)
  }

  /// Tokens `[B, n, dim]` of images `x [B, C, H, W]`.
  public func forward(_ x: Tensor) -> Tensor { proj(x) }
}
