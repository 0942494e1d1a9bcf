/// Where in model.swift a node came from.
public struct SourceLoc: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The path as passed to swiftc (what `#filePath` reports).
  public var file: String
  /// 1-based line.
  public var line: Int
  /// 1-based column (the call's opening parenthesis).
  public var column: Int
  /// True when the location was inferred (operators cannot capture `#line`); printed with `~`.
  public var inferred: Bool

  /// Creates a location.
  public init(file: String, line: Int, column: Int, inferred: Bool = false) {
    self.file = file
    self.line = line
    self.column = column
    self.inferred = inferred
  }

  /// A location for nodes made by the compiler itself.
  public static let unknown = SourceLoc(file: "<compiler>", line: 0, column: 0)

  /// `model.swift:14:9`, the prefix of a compiler-style diagnostic.
  public var description: String { "\(file):\(line):\(column)" }
}
