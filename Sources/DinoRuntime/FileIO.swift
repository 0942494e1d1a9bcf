#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file-system failure, as one line naming the path.
struct FileIOError: Error {
  var message: String
}

/// Whole-file reads and atomic writes over POSIX calls.
enum FileIO {
  /// The description of the current `errno`.
  static func lastError() -> String { String(cString: strerror(errno)) }

  /// Reads the whole file at `path`.
  static func readAll(_ path: String) throws(FileIOError) -> [UInt8] {
    let fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC)  // a FIFO must not block the open
    guard fd >= 0 else { throw FileIOError(message: "\(path): cannot open: \(lastError())") }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      throw FileIOError(message: "\(path): cannot stat: \(lastError())")
    }
    guard info.st_mode & S_IFMT == S_IFREG else {
      throw FileIOError(message: "\(path): not a regular file")
    }
    let size = Int(info.st_size)
    var failure: String?
    let bytes = [UInt8](unsafeUninitializedCapacity: size) { buffer, count in
      var done = 0
      while done < size {
        let n = read(fd, buffer.baseAddress! + done, size - done)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
          failure = n == 0 ? "file shrank while reading" : lastError()
          break
        }
        done += n
      }
      count = done
    }
    if let failure { throw FileIOError(message: "\(path): cannot read: \(failure)") }
    return bytes
  }

  /// Writes a file atomically: `body` streams the contents into a temporary file in the
  /// same folder, which is fsynced and renamed over `path`; on any failure the temporary
  /// file is removed and `path` is untouched.
  static func writeAtomically(_ path: String, _ body: (FileSink) -> Void) throws(FileIOError) {
    let slash = path.lastIndex(of: "/")
    let folder = slash.map { String(path[..<$0]) } ?? "."
    let base = slash.map { String(path[path.index(after: $0)...]) } ?? path
    let directory = folder.isEmpty ? "/" : folder
    var template = Array("\(directory)/.\(base).tmp.XXXXXX".utf8CString)
    let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
    guard fd >= 0 else {
      throw FileIOError(
        message: "\(path): cannot create a temporary file in \(directory): \(lastError())")
    }
    let temporary = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
    let sink = FileSink(fd: fd)
    sink.killAfterFirstWrite = CrashInjection.shouldKill(writing: base)
    body(sink)
    var failure = sink.failure
    if failure == nil && (fchmod(fd, 0o644) != 0 || fsync(fd) != 0) {
      failure = "cannot sync: \(lastError())"
    }
    if close(fd) != 0 && failure == nil { failure = "cannot close: \(lastError())" }
    if failure == nil && rename(temporary, path) != 0 { failure = "cannot replace: \(lastError())" }
    if let failure {
      unlink(temporary)
      throw FileIOError(message: "\(path): \(failure)")
    }
    let dirfd = open(directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
    if dirfd >= 0 {
      fsync(dirfd)
      close(dirfd)
    }
  }
}

/// Where `FileIO.writeAtomically` streams bytes; remembers the first failure and ignores
/// later writes.
final class FileSink {
  private let fd: Int32
  /// The first write failure, if any.
  private(set) var failure: String?

  /// Test hook (`CrashInjection`): SIGKILL the process after the first chunk.
  var killAfterFirstWrite = false

  init(fd: Int32) { self.fd = fd }

  /// Appends `chunk` to the file.
  func write(_ chunk: UnsafeRawBufferPointer) {
    guard failure == nil, let start = chunk.baseAddress else { return }
    var done = 0
    while done < chunk.count {
      #if canImport(Glibc)
        let n = Glibc.write(fd, start + done, chunk.count - done)
      #else
        let n = Darwin.write(fd, start + done, chunk.count - done)
      #endif
      if n < 0 && errno == EINTR { continue }
      if n <= 0 {
        failure = "cannot write: \(FileIO.lastError())"
        return
      }
      done += n
    }
    if killAfterFirstWrite { CrashInjection.killNow() }
  }
}
