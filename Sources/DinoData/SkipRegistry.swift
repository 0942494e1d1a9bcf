import Foundation

/// Thread-safe record of the samples that failed to decode, shared by a loader's workers.
final class SkipRegistry: @unchecked Sendable {
  private let lock = NSLock()
  private var bad: [Int: SkippedFile] = [:]
  private var order: [Int] = []

  /// Notes that sample `index` could not be decoded.
  func record(_ index: Int, _ file: SkippedFile) {
    lock.lock()
    if bad[index] == nil {
      bad[index] = file
      order.append(index)
    }
    lock.unlock()
  }

  /// Whether `index` is known to be undecodable.
  func isBad(_ index: Int) -> Bool {
    lock.lock()
    defer { lock.unlock() }
    return bad[index] != nil
  }

  /// The undecodable samples found so far, sorted by index.
  var files: [SkippedFile] {
    lock.lock()
    defer { lock.unlock() }
    return order.sorted().map { bad[$0]! }
  }
}

extension SkippedFile {
  /// The one summary line about skipped files, or nil when nothing was skipped:
  /// `skipped 3 of 1203 files under ROOT: a/x.jpg (truncated JPEG data), …; by kind: 1
  /// not a regular file, 2 undecodable` (8 named at most; kinds as `SkipKind.kind(of:)`).
  public static func summary(_ files: [SkippedFile], total: Int, root: String) -> String? {
    guard !files.isEmpty else { return nil }
    let shown = files.prefix(8).map { "\($0.path) (\($0.reason))" }.joined(separator: ", ")
    let more = files.count > 8 ? ", and \(files.count - 8) more" : ""
    return "skipped \(files.count) of \(total) files under \(root): \(shown)\(more); "
      + "by kind: \(SkipKind.counts(files))"
  }
}
