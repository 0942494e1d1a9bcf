/// Layer normalisation over the last axis, PyTorch's `nn.LayerNorm(dim, eps)`.
///
/// Parameters: `weight [dim]` (ones) and `bias [dim]` (zeros).
public final class LayerNorm: Layer {
  /// Gamma, `[dim]`.
  public let weight: Parameter
  /// Beta, `[dim]`.
  public let bias: Parameter
  /// Added to the variance.
  public let eps: Double

  /// Creates a layer norm.
  /// - Parameters:
  ///   - dim: the normalised (last) dimension.
  ///   - eps: added to the variance (DINO's ViT uses 1e-6).
  public init(
    _ dim: Int, eps: Double = 1e-6,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    weight = Parameter([dim], init: .ones, file: file, line: line, column: column)
    bias = Parameter([dim], init: .zeros, file: file, line: line, column: column)
    self.eps = eps
  }

  /// The normalised `x`.
  public func forward(_ x: Tensor) -> Tensor {
    layerNorm(x, weight: weight.value, bias: bias.value, eps: eps)
  }
}
