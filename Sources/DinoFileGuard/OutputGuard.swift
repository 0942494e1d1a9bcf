#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A refused output path, as one line: what, where, and what to do.
public struct OutputGuardError: Error, Sendable, CustomStringConvertible {
  /// The line, without a prefix such as `error:`.
  public let message: String
  /// Wraps a line.
  public init(_ message: String) { self.message = message }
  /// The line.
  public var description: String { message }
}

/// Refuses outputs that would destroy a command's inputs. A command records every file and
/// data folder it reads, then checks each output path before anything is computed:
///
/// - an output naming an existing folder, FIFO, socket or device is refused (give a file
///   path): a FIFO would block the writer, and replacing `/dev/null` is never wanted;
/// - an output that is one of the input files — compared by device and inode, so a hard
///   link, a symbolic link or a different spelling of the same file is caught — is refused;
/// - an output inside a data folder the command reads (at any depth, through symbolic
///   links) is refused;
/// - two outputs naming the same file are refused.
public struct OutputGuard: Sendable {
  private struct Read: Sendable {
    var path: String
    var role: String
    var identity: FileIdentity
  }

  private var files: [Read] = []
  private var folders: [Read] = []
  private var outputs: [(path: String, role: String, resolved: String)] = []

  /// An empty guard.
  public init() {}

  /// Records an input file (`role` names it in messages, e.g. "--init"). A path that does
  /// not exist is left to the reader to report.
  public mutating func reads(file path: String, as role: String) {
    guard let identity = FileIdentity.of(path) else { return }
    files.append(Read(path: path, role: role, identity: identity))
  }

  /// Records a data folder the command reads (its whole tree is protected).
  public mutating func reads(folder path: String, as role: String) {
    guard let identity = FileIdentity.of(path) else { return }
    folders.append(Read(path: path, role: role, identity: identity))
  }

  /// Checks the output file `path` given as `role` (e.g. "-o") and records it.
  /// - Throws: `OutputGuardError` for a folder, an input, a path inside a data folder, or
  ///   an output already claimed.
  public mutating func check(output path: String, as role: String) throws(OutputGuardError) {
    guard !path.isEmpty else { throw OutputGuardError("\(role) is empty: give a file path") }
    var info = stat()
    if stat(path, &info) == 0 {
      if info.st_mode & S_IFMT == S_IFDIR {
        throw OutputGuardError(
          "\(role) '\(path)' is a folder: give a file path, e.g. '\(trimmed(path))/out'")
      }
      if info.st_mode & S_IFMT != S_IFREG {
        throw OutputGuardError(
          "\(role) '\(path)' is a \(FileKindName.of(mode: info.st_mode)), not a regular file: "
            + "give a file path")
      }
      let identity = FileIdentity(info)
      if let input = files.first(where: { $0.identity == identity }) {
        throw OutputGuardError(
          "\(role) '\(path)' is the same file as the input \(input.role) '\(input.path)': "
            + "writing it would destroy the input; choose another output path")
      }
    }
    let folder = PathText.folder(of: path)
    try checkOutsideData(folder, output: path, role: role)
    try claim(path, folder: folder, role: role)
  }

  /// Checks an output folder (`role`, e.g. "--output") that files are written into: it must
  /// not be, or lie inside, a data folder the command reads, nor be an existing non-folder.
  public func check(outputFolder path: String, as role: String) throws(OutputGuardError) {
    var info = stat()
    if stat(path, &info) == 0 {
      guard info.st_mode & S_IFMT == S_IFDIR else {
        throw OutputGuardError(
          "\(role) '\(path)' is a \(FileKindName.of(mode: info.st_mode)), not a folder: "
            + "give a folder path")
      }
      try checkOutsideData(path, output: path, role: role)
    } else {
      try checkOutsideData(PathText.folder(of: path), output: path, role: role)
    }
  }

  /// Refuses when `folder` (an existing ancestor of an output) is a data folder or inside one.
  private func checkOutsideData(
    _ folder: String, output: String, role: String
  ) throws(OutputGuardError) {
    guard !folders.isEmpty else { return }
    var current = nearestExisting(folder)
    while let path = current {
      if let identity = FileIdentity.of(path),
        let data = folders.first(where: { $0.identity == identity })
      {
        throw OutputGuardError(
          "\(role) '\(output)' is inside the data folder \(data.role) '\(data.path)': "
            + "never write into data you read; choose a path outside it")
      }
      current = path == "/" ? nil : PathText.folder(of: path)
    }
  }

  /// The resolved form of `folder` or of its nearest existing ancestor.
  private func nearestExisting(_ folder: String) -> String? {
    var candidate = folder
    while true {
      if let resolved = PathText.resolved(candidate) { return resolved }
      if candidate == "/" || candidate == "." { return PathText.resolved(".") }
      candidate = PathText.folder(of: candidate)
    }
  }

  /// Records an output, refusing a second output that names the same file.
  private mutating func claim(
    _ path: String, folder: String, role: String
  ) throws(OutputGuardError) {
    let base = path.split(separator: "/").last.map(String.init) ?? path
    let resolved = (PathText.resolved(folder) ?? folder) + "/" + base
    if let earlier = outputs.first(where: { $0.resolved == resolved }) {
      throw OutputGuardError(
        "\(role) '\(path)' is the same file as \(earlier.role) '\(earlier.path)': "
          + "give each output its own path")
    }
    outputs.append((path, role, resolved))
  }

  private func trimmed(_ path: String) -> String {
    var text = path
    while text.count > 1 && text.hasSuffix("/") { text.removeLast() }
    return text
  }
}
