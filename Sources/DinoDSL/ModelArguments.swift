/// The command line dinoc runs a model with: `-fileno N` (the payload channel) and any
/// number of `-D key=value` overrides (also `-Dkey=value`).
struct ModelArguments {
  /// The descriptor the payload goes to; `nil` when the model runs by hand (stdout).
  var fileno: Int32?
  /// Overrides in command-line order; a later value for the same key wins.
  var overrides: [(key: String, value: String)] = []
  /// Malformed arguments, as messages.
  var problems: [String] = []

  /// Parses the arguments after the executable's name.
  init(_ arguments: ArraySlice<String>) {
    var rest = arguments[...]
    while let argument = rest.popFirst() {
      if argument == "-fileno" {
        guard let text = rest.popFirst(), let fd = Int32(text), fd >= 0 else {
          problems.append("-fileno needs a file descriptor number")
          continue
        }
        fileno = fd
      } else if argument.hasPrefix("-D") {
        let pair = argument == "-D" ? rest.popFirst() ?? "" : String(argument.dropFirst(2))
        guard let eq = pair.firstIndex(of: "="), eq != pair.startIndex else {
          problems.append("-D expects key=value, got '\(pair)'")
          continue
        }
        overrides.append((String(pair[..<eq]), String(pair[pair.index(after: eq)...])))
      } else {
        problems.append(
          "unexpected argument '\(argument)' (a model accepts -fileno N and -D key=value)")
      }
    }
  }

  /// The last value given for `key`.
  func override(_ key: String) -> String? { overrides.last { $0.key == key }?.value }
}
