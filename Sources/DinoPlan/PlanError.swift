/// Why a plan.bin cannot be written or loaded: one line naming what is wrong and where,
/// then a hint, e.g. `plan.bin: format version 2 is newer than this reader (1) (hint: …)`.
public struct PlanError: Error, Hashable, Sendable, CustomStringConvertible {
  /// What is wrong and where (section, byte offset, program, node).
  public var message: String
  /// What the user can do about it.
  public var hint: String
  /// The file the error is about (`plan.bin` when decoding bytes in memory).
  public var file: String

  /// Creates an error.
  /// - Parameters:
  ///   - message: what is wrong and where.
  ///   - hint: what to do.
  ///   - file: the file's path.
  public init(_ message: String, hint: String = PlanError.corruptHint, file: String = "plan.bin") {
    self.message = message
    self.hint = hint
    self.file = file
  }

  /// The hint for damaged files.
  public static let corruptHint =
    "the file is damaged or not written by dinoc: rebuild it with `dinoc compile`"
  /// The hint for plans built by another compiler version or op table.
  public static let rebuildHint = "rebuild the plan with the dinoc that matches this dino-run"
  /// The hint for graphs that cannot be written.
  public static let writeHint =
    "write plans from the output of the full pass pipeline (`Pipeline.run`)"

  /// One line: `file: message (hint: hint)`; control characters are escaped and very long
  /// messages shortened, so that the line is always printable.
  public var description: String {
    var text = "\(file): \(message) (hint: \(hint))"
    if text.count > 600 { text = String(text.prefix(600)) + "…" }
    var line = ""
    for scalar in text.unicodeScalars {
      if scalar.value < 0x20 || scalar.value == 0x7F || scalar == "\u{2028}" || scalar == "\u{2029}"
        || scalar == "\u{85}"
      {
        line += "\\u{\(String(scalar.value, radix: 16))}"
      } else {
        line.unicodeScalars.append(scalar)
      }
    }
    return line
  }
}
