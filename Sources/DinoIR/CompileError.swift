/// A compiler error in compiler format: `model.swift:14:9: error: message`, then notes.
public struct CompileError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What went wrong.
  public var message: String
  /// Where in model.swift (`.unknown` when the compiler itself is at fault).
  public var loc: SourceLoc
  /// Follow-up lines, each printed as `note: …`.
  public var notes: [String]

  /// Creates an error.
  public init(_ message: String, at loc: SourceLoc = .unknown, notes: [String] = []) {
    self.message = message
    self.loc = loc
    self.notes = notes
  }

  /// The diagnostic lines: `file:line:col: error: message` and `note: …` lines.
  public var description: String {
    let head = loc == .unknown ? "error: \(message)" : "\(loc): error: \(message)"
    return ([head] + notes.map { "note: \($0)" }).joined(separator: "\n")
  }
}
