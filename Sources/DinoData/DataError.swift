/// A data-loading failure, printed as one clear line (never a crash).
public struct DataError: Error, CustomStringConvertible, Equatable, Sendable {
  /// The message, without an `error:` prefix.
  public var message: String

  /// Creates an error with the given message.
  public init(_ message: String) { self.message = message }

  /// The message.
  public var description: String { message }
}
