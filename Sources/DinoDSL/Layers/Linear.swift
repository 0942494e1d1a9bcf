/// A fully connected layer, PyTorch's `nn.Linear`: `y = x · weightᵀ + bias`.
///
/// Parameters: `weight [out, in]` (truncated normal, σ 0.02, bounds ±2, as DINO's
/// `_init_weights`) and `bias [out]` (zeros).
public final class Linear: Layer {
  /// `[out, in]`.
  public let weight: Parameter
  /// `[out]`, or `nil` for a layer without bias.
  public let bias: Parameter?

  /// Creates a linear layer.
  /// - Parameters:
  ///   - inFeatures: the input's last dimension.
  ///   - outFeatures: the output's last dimension.
  ///   - bias: whether the layer adds a bias.
  ///   - weightInit: how the weight starts out.
  public init(
    _ inFeatures: Int, _ outFeatures: Int, bias: Bool = true,
    weightInit: Initializer = .truncNormal(std: 0.02, a: -2, b: 2),
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    weight = Parameter(
      [outFeatures, inFeatures], init: weightInit, file: file, line: line, column: column)
    self.bias =
      bias ? Parameter([outFeatures], init: .zeros, file: file, line: line, column: column) : nil
  }

  /// `x · weightᵀ + bias` for `x [..., in]`.
  public func forward(_ x: Tensor) -> Tensor { linear(x, weight.value, bias?.value) }
}
