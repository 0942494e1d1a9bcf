import DinoData

/// A runtime failure, as one line: a bad graph or plan, a missing or mis-shaped input or
/// tensor, or a kernel's error.
public struct RuntimeError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The message, e.g. `input 'crop0' of @train_step expects f32[2,3,32,32], got 100 values`.
  public var message: String
  /// Creates an error.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}

extension RuntimeError {
  /// Runs `body`; a `RuntimeError` passes through, a data error keeps its one-line message
  /// and any other error is described, so callers of the data loaders throw one type.
  static func mapping<T>(_ body: () throws -> T) throws(RuntimeError) -> T {
    do {
      return try body()
    } catch let error as RuntimeError {
      throw error
    } catch let error as DataError {
      throw RuntimeError(error.message)
    } catch {
      throw RuntimeError("\(error)")
    }
  }
}
