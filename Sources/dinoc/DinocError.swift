/// A failure of dinoc itself (a missing file, a failed swiftc, a crashed model), already
/// worded as the lines to print: `error: …` first, then any `note: …` lines.
struct DinocError: Error, CustomStringConvertible {
  /// The lines, without trailing newlines.
  var lines: [String]

  /// `error: message`, then `note: …` for each note.
  init(_ message: String, notes: [String] = []) {
    lines = ["error: \(message)"] + notes.map { "note: \($0)" }
  }

  /// Lines printed as they are (diagnostics already in compiler format).
  init(lines: [String]) { self.lines = lines }

  /// The lines joined by newlines.
  var description: String { lines.joined(separator: "\n") }
}
