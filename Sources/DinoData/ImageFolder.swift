#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A file left out of training, with the reason (shown in the skip summary line).
public struct SkippedFile: Sendable, Equatable, Hashable {
  /// Path relative to the folder root.
  public var path: String
  /// Why it was skipped, e.g. "truncated JPEG data".
  public var reason: String

  /// Creates a record.
  public init(path: String, reason: String) {
    self.path = path
    self.reason = reason
  }
}

/// An image folder in the ImageNet layout, read as torchvision's `ImageFolder` does.
///
/// - If `ROOT/train` is a directory, it is the folder; otherwise `ROOT` is.
/// - Classes are the sub-directories of the folder, sorted by code point; the label of a
///   class is its position. Files are collected recursively (symbolic links followed),
///   directories in sorted order and files sorted within each.
/// - Files ending in .jpg, .jpeg or .png (any case) are samples; hidden files (".name") are
///   ignored; any other file is recorded in `ignored` and left out, as are FIFOs, sockets,
///   devices and broken links (never opened), folders reached a second time by (device,
///   inode), such as a symbolic-link cycle, and second names of an image already counted.
///   Whether a sample decodes is only known when it is read: undecodable samples are
///   skipped by the loaders.
public struct ImageFolder: Sendable {
  /// The folder whose class directories were scanned.
  public let root: String
  /// Class names, sorted.
  public let classes: [String]
  /// Sample paths (root-joined), in dataset order.
  public let paths: [String]
  /// The label of each sample (index into `classes`).
  public let labels: [Int32]
  /// Files that are not JPEG/PNG by name, left out at scan time.
  public let ignored: [SkippedFile]

  /// The number of samples.
  public var count: Int { paths.count }

  /// Scans `path` (or `path/train` if that exists). Throws one clear error for a missing
  /// folder, a folder without class directories, or one without any JPEG/PNG file.
  public init(path: String) throws(DataError) {
    var trimmed = path
    while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
    guard let kind = FileKind.of(trimmed) else {
      throw DataError("data folder '\(path)' does not exist")
    }
    guard kind == .directory else { throw DataError("data path '\(path)' is not a folder") }
    let train = trimmed + "/train"
    let root = FileKind.of(train) == .directory ? train : trimmed
    self.root = root

    let top = try Self.list(root)
    let classes = top.filter { $0.kind == .directory }.map(\.name).sorted(by: Self.codepointOrder)
    guard !classes.isEmpty else {
      throw DataError(
        "no class folders in '\(root)': expected \(root)/<class>/<image>.jpg|.png "
          + "(or a train/ folder in that layout)")
    }
    var paths: [String] = []
    var labels: [Int32] = []
    var ignored: [SkippedFile] = []
    var visited = Set<DiskIdentity>()
    var counted: [DiskIdentity: String] = [:]
    if let top = DiskIdentity.of(root) { visited.insert(top) }
    for (label, name) in classes.enumerated() {
      let walked = try Self.walk(root + "/" + name, relative: name, visited: &visited)
      ignored += walked.skipped
      for file in walked.files {
        if Self.isImageName(file) {
          if let identity = DiskIdentity.of(root + "/" + file) {
            if let first = counted[identity] {
              ignored.append(SkippedFile(path: file, reason: SkipKind.duplicate(of: first)))
              continue
            }
            counted[identity] = file
          }
          paths.append(root + "/" + file)
          labels.append(Int32(label))
        } else {
          ignored.append(SkippedFile(path: file, reason: SkipKind.notAnImage))
        }
      }
    }
    guard !paths.isEmpty else {
      throw DataError("no JPEG or PNG images under '\(root)' (\(classes.count) class folders)")
    }
    self.classes = classes
    self.paths = paths
    self.labels = labels
    self.ignored = ignored
  }

  /// The path of sample `index` relative to `root`.
  public func relativePath(_ index: Int) -> String {
    String(paths[index].dropFirst(root.count + 1))
  }

  static func isImageName(_ name: String) -> Bool {
    let lower = name.lowercased()
    return lower.hasSuffix(".jpg") || lower.hasSuffix(".jpeg") || lower.hasSuffix(".png")
  }

  /// Python's `sorted` order for strings (code points, same as UTF-8 bytes).
  static func codepointOrder(_ a: String, _ b: String) -> Bool {
    a.utf8.lexicographicallyPrecedes(b.utf8)
  }

  enum FileKind: Equatable {
    /// A folder, a regular file, or anything else (named: "FIFO", "socket", …).
    case directory, file, special(String)

    /// Follows symbolic links; nil when the path does not exist.
    static func of(_ path: String) -> FileKind? {
      var st = stat()
      guard stat(path, &st) == 0 else { return nil }
      return of(mode: st.st_mode)
    }

    /// The kind a `st_mode` names.
    static func of(mode: mode_t) -> FileKind {
      switch mode & S_IFMT {
      case S_IFDIR: return .directory
      case S_IFREG: return .file
      case S_IFIFO: return .special("FIFO")
      case S_IFSOCK: return .special("socket")
      case S_IFCHR: return .special("character device")
      case S_IFBLK: return .special("block device")
      default: return .special("special file")
      }
    }
  }

  struct Entry {
    var name: String
    var kind: FileKind
  }

  /// The non-hidden entries of a directory.
  static func list(_ dir: String) throws(DataError) -> [Entry] {
    guard let handle = opendir(dir) else {
      throw DataError("cannot read folder '\(dir)': \(String(cString: strerror(errno)))")
    }
    defer { closedir(handle) }
    var entries: [Entry] = []
    while let ent = readdir(handle) {
      let name = withUnsafeBytes(of: ent.pointee.d_name) { raw in
        String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
      }
      if name.hasPrefix(".") { continue }
      let type = ent.pointee.d_type
      let kind: FileKind
      if type == UInt8(DT_DIR) {
        kind = .directory
      } else if type == UInt8(DT_REG) {
        kind = .file
      } else {  // links (followed), unknown types, FIFOs, sockets, devices
        kind = FileKind.of(dir + "/" + name) ?? .special("broken symbolic link")
      }
      entries.append(Entry(name: name, kind: kind))
    }
    return entries
  }

  /// Regular files below `dir` as paths relative to the root (prefixed by `relative`), in
  /// os.walk order sorted by directory path, files sorted within each directory; and the
  /// entries left out: FIFOs, sockets, devices and broken links (never opened), and folders
  /// already in `visited` by (device, inode) — a symbolic-link cycle or a second link to a
  /// folder — so that the walk ends and no image is counted twice.
  static func walk(
    _ dir: String, relative: String, visited: inout Set<DiskIdentity>
  ) throws(DataError) -> (files: [String], skipped: [SkippedFile]) {
    var groups: [(dir: String, files: [String])] = []
    var skipped: [SkippedFile] = []
    var pending: [(String, String)] = [(dir, relative)]
    var count = 0
    while let (path, rel) = pending.popLast() {
      count += 1
      if count > 1_000_000 { throw DataError("too many nested folders under '\(dir)'") }
      if let identity = DiskIdentity.of(path), !visited.insert(identity).inserted {
        skipped.append(SkippedFile(path: rel, reason: SkipKind.revisitedFolder))
        continue
      }
      let entries = try list(path)
      let files = entries.filter { $0.kind == .file }.map(\.name).sorted(by: codepointOrder)
      groups.append((rel, files.map { rel + "/" + $0 }))
      for entry in entries {
        if case .special(let kind) = entry.kind {
          skipped.append(
            SkippedFile(path: rel + "/" + entry.name, reason: SkipKind.notRegular(kind)))
        }
      }
      for sub in entries.sorted(by: { codepointOrder($1.name, $0.name) })
      where sub.kind == .directory {
        pending.append((path + "/" + sub.name, rel + "/" + sub.name))
      }
    }
    groups.sort { codepointOrder($0.dir, $1.dir) }
    skipped.sort { codepointOrder($0.path, $1.path) }
    return (groups.flatMap(\.files), skipped)
  }
}
