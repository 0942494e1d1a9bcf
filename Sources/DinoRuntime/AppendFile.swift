import Foundation

/// A log file opened for appending, never through a symbolic link (`O_NOFOLLOW`): a
/// link planted at the log's path is refused instead of being written through.
final class AppendFile {
  /// The path.
  let path: String
  private let descriptor: Int32

  /// Opens (creating with mode 0644) `path` for appending.
  init(_ path: String) throws(RuntimeError) {
    self.path = path
    descriptor = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0o644)
    guard descriptor >= 0 else {
      let reason = errno == ELOOP ? "it is a symbolic link" : String(cString: strerror(errno))
      throw RuntimeError("cannot append to \(path): \(reason)")
    }
  }

  deinit { close(descriptor) }

  /// Appends `line` and a newline in one `write`.
  func append(line: String) throws(RuntimeError) {
    let bytes = Array((line + "\n").utf8)
    var written = 0
    while written < bytes.count {
      let n = bytes[written...].withUnsafeBytes { write(descriptor, $0.baseAddress, $0.count) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw RuntimeError("cannot write \(path): \(String(cString: strerror(errno)))")
      }
      written += n
    }
  }

  /// Appends one line to `path` (open, write, close).
  static func append(line: String, to path: String) throws(RuntimeError) {
    try AppendFile(path).append(line: line)
  }
}
