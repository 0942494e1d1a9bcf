/// Lexical pieces of the IR text form shared by the printer and the parser (IR/GRAMMAR.md).
enum IRText {
  /// The first line's fixed prefix.
  static let magic = "#dino-ir"
  /// The text format version this module writes and reads.
  static let version = "v1"
  /// Float lists longer than this print as a `#k` reference to a `data` block.
  static let inlineFloats = 8
  /// Values per line inside a `data` block.
  static let floatsPerLine = 8

  /// Whether `c` may start a bare word: an ASCII letter or `_`.
  static func isWordStart(_ c: Unicode.Scalar) -> Bool {
    ("a"..."z").contains(c) || ("A"..."Z").contains(c) || c == "_"
  }

  /// Whether `c` may continue a bare word: also digits and `.`.
  static func isWordChar(_ c: Unicode.Scalar) -> Bool {
    isWordStart(c) || ("0"..."9").contains(c) || c == "."
  }

  /// Whether `s` prints as a bare word (`student.backbone.blocks.3`).
  static func isWord(_ s: String) -> Bool {
    guard let first = s.unicodeScalars.first, isWordStart(first) else { return false }
    return s.unicodeScalars.allSatisfy(isWordChar)
  }

  /// A name position (stage, scope, key, program, output): bare when possible, else quoted.
  static func name(_ s: String) -> String { isWord(s) ? s : quote(s) }

  /// `s` in double quotes with `\"`, `\\`, `\n`, `\t`, `\r` and `\u{XX}` escapes.
  static func quote(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\t": out += "\\t"
      case "\r": out += "\\r"
      default:
        if scalar.value < 0x20 || scalar.value == 0x7F {
          out += "\\u{\(String(scalar.value, radix: 16))}"
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }

  /// A hyper-parameter value: integral values without a fraction, others exactly.
  static func number(_ d: Double) -> String {
    if d == d.rounded(), abs(d) < 1e15, !(d == 0 && d.sign == .minus) { return String(Int(d)) }
    return d.description
  }

  /// `0x0004A000`: upper-case hex, at least 8 digits.
  static func hex(_ n: Int) -> String {
    let digits = String(n, radix: 16, uppercase: true)
    return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
  }
}
