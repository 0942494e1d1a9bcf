/// The transformer MLP (timm's `Mlp`): `fc2(gelu(fc1(x)))`.
///
/// Parameters: `fc1.weight`, `fc1.bias`, `fc2.weight`, `fc2.bias`.
public final class MLP: Layer {
  /// `in → hidden`.
  public let fc1: Linear
  /// `hidden → out`.
  public let fc2: Linear

  /// Creates an MLP.
  /// - Parameters:
  ///   - inFeatures: the input's last dimension.
  ///   - hiddenFeatures: the hidden width.
  ///   - outFeatures: the output's last dimension.
  public init(
    _ inFeatures: Int, _ hiddenFeatures: Int, _ outFeatures: Int,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    fc1 = Linear(inFeatures, hiddenFeatures, file: file, line: line, column: column)
    fc2 = Linear(hiddenFeatures, outFeatures, file: file, line: line, column: column)
  }

  /// `fc2(gelu(fc1(x)))`.
  public func forward(_ x: Tensor) -> Tensor { fc2(gelu(fc1(x))) }
}
