/// A runtime failure, as one line: a bad graph or plan, a missing or mis-shaped input or
/// tensor, or a kernel's error.
public struct RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The message, e.g. `input 'crop0' of @train_step expects f32[2,3,32,32], got 100 values`.
  public var message: String
  /// In a data-parallel run: every process stops on this failure and another one prints
  /// it, so this process exits without a line of its own.
  public var reportedElsewhere = false
  /// Creates an error.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}
