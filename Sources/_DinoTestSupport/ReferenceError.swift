/// Why the reference interpreter, the gradient checker or the program builder refused:
/// one line naming the program, the node and the problem.
public struct ReferenceError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The message, e.g. `@forward %3 matmul: [2,3] x [4,5] — inner dimensions differ`.
  public var message: String
  /// Creates an error.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}
