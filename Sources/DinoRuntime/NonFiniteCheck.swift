/// Refuses tensors holding NaN or ±inf where they enter the runtime (weights, checkpoints,
/// crops, program inputs): a poisoned value would otherwise train on silently.
extension HostTensor {
  /// The index and value of the first NaN or infinite element; nil for finite or integer
  /// tensors.
  public var firstNonFinite: (index: Int, value: Float)? {
    guard case .f32(let values) = self.values else { return nil }
    guard let index = values.firstIndex(where: { !$0.isFinite }) else { return nil }
    return (index, values[index])
  }

  /// Throws one line naming `name` and `source` when the tensor holds a non-finite value.
  public func requireFinite(_ name: String, source: String) throws(RuntimeError) {
    guard let (index, value) = firstNonFinite else { return }
    throw RuntimeError(
      "\(source): tensor '\(name)' holds \(value) at element \(index) (shape \(shape)): "
        + "non-finite values are refused; check how the file was made")
  }
}
