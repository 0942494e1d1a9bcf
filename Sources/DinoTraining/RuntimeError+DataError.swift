import DinoData
import DinoRuntime

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
