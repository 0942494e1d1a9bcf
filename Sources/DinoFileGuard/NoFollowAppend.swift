#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Opens files the tools append to without following symbolic links and without blocking on
/// FIFOs: only a regular file (or a new one) is ever written.
public enum NoFollowAppend {
  /// Appends `text` to the regular file at `path`, creating it (mode 0644) if absent.
  /// - Throws: `OutputGuardError` when `path` is a symbolic link, a FIFO, a device, a folder,
  ///   or cannot be written; the message names the path and what to do.
  public static func append(_ text: String, to path: String) throws(OutputGuardError) {
    let flags = O_WRONLY | O_APPEND | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC
    let fd = open(path, flags, 0o644)
    guard fd >= 0 else {
      let code = errno
      if code == ELOOP {
        throw OutputGuardError(
          "\(path) is a symbolic link: refusing to write through it; remove the link")
      }
      var info = stat()
      if lstat(path, &info) == 0 && info.st_mode & S_IFMT != S_IFREG {
        throw OutputGuardError(
          "\(path) is a \(FileKindName.of(mode: info.st_mode)), not a regular file: remove it")
      }
      throw OutputGuardError("cannot append to \(path): \(String(cString: strerror(code)))")
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG else {
      throw OutputGuardError(
        "\(path) is a \(FileKindName.of(mode: info.st_mode)), not a regular file: remove it")
    }
    _ = fcntl(fd, F_SETFL, O_WRONLY | O_APPEND)
    let bytes = Array(text.utf8)
    var done = 0
    while done < bytes.count {
      let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + done, bytes.count - done) }
      if n < 0 && errno == EINTR { continue }
      guard n > 0 else {
        throw OutputGuardError("cannot write \(path): \(String(cString: strerror(errno)))")
      }
      done += n
    }
  }
}

extension NoFollowAppend {
  /// Refuses, before any work, a log path that `append` would refuse later: a symbolic link
  /// or anything but a regular file. A path that does not exist yet is fine.
  public static func checkAppendable(_ path: String) throws(OutputGuardError) {
    var info = stat()
    guard lstat(path, &info) == 0 else { return }
    switch info.st_mode & S_IFMT {
    case S_IFREG: return
    case S_IFLNK:
      throw OutputGuardError(
        "\(path) is a symbolic link: refusing to write through it; remove the link")
    default:
      throw OutputGuardError(
        "\(path) is a \(FileKindName.of(mode: info.st_mode)), not a regular file: remove it")
    }
  }
}
