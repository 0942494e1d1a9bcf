#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file's or folder's identity on disk, (device, inode): the same for every path that
/// reaches it (symbolic links, hard links).
struct DiskIdentity: Hashable {
  var device: UInt64
  var inode: UInt64

  /// The identity of what `path` names (following symbolic links); nil if unreadable.
  static func of(_ path: String) -> DiskIdentity? {
    var info = stat()
    guard stat(path, &info) == 0 else { return nil }
    return DiskIdentity(device: UInt64(info.st_dev), inode: UInt64(info.st_ino))
  }
}

/// The reasons files are left out, and the short kind each reason is counted under in the
/// skip summary line.
public enum SkipKind {
  /// The reason for a file whose name is not an image's.
  public static let notAnImage = "not a .jpg/.jpeg/.png file"
  /// The reason for a folder reached a second time (a link cycle or a second link).
  public static let revisitedFolder = "folder already visited: symbolic-link cycle or second link"

  /// The reason for a second name (symbolic or hard link) of an image already counted.
  public static func duplicate(of first: String) -> String { "same file as \(first)" }

  /// The reason for a FIFO, socket, device or broken link (`kind` names which).
  public static func notRegular(_ kind: String) -> String { "not a regular file (\(kind))" }

  /// The kind `reason` is counted under: "not an image", "not a regular file", "folder
  /// cycle", "duplicate", "over the pixel budget" or "undecodable".
  public static func kind(of reason: String) -> String {
    if reason == notAnImage { return "not an image" }
    if reason.hasPrefix("not a regular file") { return "not a regular file" }
    if reason == revisitedFolder { return "folder cycle" }
    if reason.hasPrefix("same file as ") { return "duplicate" }
    if reason.contains("above the budget") { return "over the pixel budget" }
    return "undecodable"
  }

  /// `2 not a regular file, 1 undecodable`: the count of each kind among `files`, in the
  /// order the kinds first appear.
  public static func counts(_ files: [SkippedFile]) -> String {
    var order: [String] = []
    var counts: [String: Int] = [:]
    for file in files {
      let kind = kind(of: file.reason)
      if counts[kind] == nil { order.append(kind) }
      counts[kind, default: 0] += 1
    }
    return order.map { "\(counts[$0]!) \($0)" }.joined(separator: ", ")
  }
}
