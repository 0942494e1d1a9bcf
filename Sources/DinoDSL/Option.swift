import DinoOps

/// A value type an `Option` can hold: `Int`, `Double`, `Bool` or `String`.
public protocol OptionValue: Sendable {
  /// Parses a `-D` value; `nil` when it is not of this type.
  init?(optionText: String)
  /// `an integer`, `a number`, … for messages.
  static var optionTypeDescription: String { get }
}

extension Int: OptionValue {
  /// Parses a decimal integer.
  public init?(optionText: String) { self.init(optionText) }
  /// `an integer`.
  public static var optionTypeDescription: String { "an integer" }
}

extension Double: OptionValue {
  /// Parses a decimal or scientific number.
  public init?(optionText: String) { self.init(optionText) }
  /// `a number`.
  public static var optionTypeDescription: String { "a number" }
}

extension Bool: OptionValue {
  /// Parses `true`/`false`, `yes`/`no`, `1`/`0`.
  public init?(optionText: String) {
    switch optionText.lowercased() {
    case "true", "yes", "1": self = true
    case "false", "no", "0": self = false
    default: return nil
    }
  }
  /// `true or false`.
  public static var optionTypeDescription: String { "true or false" }
}

extension String: OptionValue {
  /// Any text.
  public init?(optionText: String) { self = optionText }
  /// `a string`.
  public static var optionTypeDescription: String { "a string" }
}

/// An option model.swift declared, with the value it got.
struct DeclaredOption {
  var name: String
  var value: String
  var loc: SourceLoc
}

/// Declares a model option that `dinoc compile -D name=value` can override.
///
/// ```swift
/// let depth = Option("depth", default: 12)      // dinoc compile model.swift -D depth=4
/// ```
/// An override that does not parse as `T` is an error at this call; an override naming no
/// declared option is an error that lists the declared ones. The value used is recorded in
/// the graph's metadata as `option.<name>`.
/// - Parameters:
///   - name: the key used with `-D`.
///   - defaultValue: the value when no override is given.
/// - Returns: the override, or the default.
public func Option<T: OptionValue>(
  _ name: String, default defaultValue: T,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> T {
  let loc = session.userLoc(file, line, column)
  if let earlier = session.options.first(where: { $0.name == name }) {
    session.error(
      "option '\(name)' is declared twice", at: loc, notes: ["first declared at \(earlier.loc)"])
    return defaultValue
  }
  var value = defaultValue
  if let text = session.arguments.override(name) {
    if let parsed = T(optionText: text) {
      value = parsed
    } else {
      session.error("option -D \(name)=\(text): expected \(T.optionTypeDescription)", at: loc)
    }
  }
  session.options.append(DeclaredOption(name: name, value: "\(value)", loc: loc))
  return value
}
