#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file's identity on disk, the same for every name of it (hard links, symbolic links).
public struct FileIdentity: Hashable, Sendable {
  /// The device the file lives on.
  public let device: UInt64
  /// The inode number on that device.
  public let inode: UInt64

  /// The identity of what `path` names, following symbolic links; nil when nothing is there.
  public static func of(_ path: String) -> FileIdentity? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return FileIdentity(info)
  }

  /// The identity recorded in `info`.
  public init(_ info: stat) {
    device = UInt64(info.st_dev)
    inode = UInt64(info.st_ino)
  }
}

/// What kind of file system entry a path names.
public enum FileKindName {
  /// A short name for the file type in `mode` ("FIFO", "socket", "device", …).
  public static func of(mode: mode_t) -> String {
    switch mode & S_IFMT {
    case S_IFREG: return "regular file"
    case S_IFDIR: return "folder"
    case S_IFIFO: return "FIFO"
    case S_IFSOCK: return "socket"
    case S_IFCHR: return "character device"
    case S_IFBLK: return "block device"
    case S_IFLNK: return "symbolic link"
    default: return "special file"
    }
  }
}

/// Path helpers for the guards.
enum PathText {
  /// The folder part of `path` ("." when it has none).
  static func folder(of path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    let head = String(path[..<slash])
    return head.isEmpty ? "/" : head
  }

  /// The absolute, symlink-free form of an existing path; nil when it cannot be resolved.
  static func resolved(_ path: String) -> String? {
    guard let pointer = realpath(path, nil) else { return nil }
    defer { free(pointer) }
    return String(cString: pointer)
  }
}
