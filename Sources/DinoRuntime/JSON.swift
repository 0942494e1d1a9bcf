import Foundation

/// A JSON value as the safetensors and log.jsonl readers inspect it, parsed by Foundation's
/// `JSONSerialization` (RFC 8259, nesting up to 512 levels).
///
/// Foundation keeps only one of two members with the same name, silently; a safetensors
/// header with a repeated tensor name is ambiguous (readers disagree on which one counts),
/// so `parse` refuses it with a short scan of the already-validated text.
package enum JSON {
  /// `{…}`, members sorted by name (JSON objects are unordered).
  case object([(String, JSON)])
  /// `[…]`.
  case array([JSON])
  /// A string.
  case string(String)
  /// A number: an integer's decimal digits (with its sign), otherwise the shortest text
  /// that reads back as the same `Double` (`2.0`, `1e+20`).
  case number(String)
  /// `true` / `false`.
  case bool(Bool)
  /// `null`.
  case null

  /// A non-negative integer that fits in `Int`, or `nil` (fractions, exponents, signs).
  package var nonNegativeInt: Int? {
    guard case .number(let text) = self, !text.isEmpty,
      text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 })
    else { return nil }
    return Int(text)
  }

  /// Parses `bytes` as one JSON value, optionally surrounded by whitespace.
  package static func parse(_ bytes: ArraySlice<UInt8>) throws(JSONError) -> JSON {
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: Data(bytes), options: [.fragmentsAllowed])
    } catch {
      throw JSONError(message: foundationReason(error))
    }
    if let name = JSONMemberNames.firstRepeated(in: bytes) {
      throw JSONError(message: "duplicate member \(quote(name))")
    }
    return value(object)
  }

  /// Renders `text` as a JSON string literal (Foundation's encoder, `/` left as is).
  package static func quote(_ text: String) -> String {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.withoutEscapingSlashes]
    // Encoding a String cannot fail: it has no non-conforming values.
    guard let data = try? encoder.encode(text) else { return "\"\"" }
    return String(decoding: data, as: UTF8.self)
  }

  /// Foundation's description of a parse error, one line: `invalid value around
  /// character 8`.
  private static func foundationReason(_ error: any Error) -> String {
    let detail = (error as NSError).userInfo[NSDebugDescriptionErrorKey] as? String
    var reason = (detail ?? error.localizedDescription)
      .split(whereSeparator: \.isNewline).joined(separator: " ")
    if reason.hasSuffix(".") { reason.removeLast() }
    guard let first = reason.first else { return "unreadable JSON" }
    return first.lowercased() + reason.dropFirst()
  }

  /// The `JSON` form of what `JSONSerialization` returned.
  private static func value(_ object: Any) -> JSON {
    switch object {
    case let dictionary as [String: Any]:
      return .object(dictionary.keys.sorted().map { ($0, value(dictionary[$0]!)) })
    case let array as [Any]:
      return .array(array.map(value))
    case let string as String:
      return .string(string)
    case let number as NSNumber:
      return numberValue(number)
    default:
      return .null
    }
  }

  /// Booleans, integers and floating-point numbers, told apart by the NSNumber's type code
  /// (`c` is how JSONSerialization stores `true` and `false`).
  private static func numberValue(_ number: NSNumber) -> JSON {
    switch String(cString: number.objCType) {
    case "c", "B": return .bool(number.boolValue)
    case "d", "f": return .number("\(number.doubleValue)")
    case "Q", "L", "I", "S": return .number(String(number.uint64Value))
    default: return .number(String(number.int64Value))
    }
  }
}

/// A JSON syntax error.
package struct JSONError: Error {
  /// What and where, one line.
  package var message: String
}

/// Finds member names repeated within one object of valid JSON text: the one check
/// `JSONSerialization` does not make.
private enum JSONMemberNames {
  /// The first name that occurs twice in the same object, or `nil`. `bytes` must be valid
  /// JSON (parsed by Foundation first): the scan only tracks strings and brackets.
  static func firstRepeated(in bytes: ArraySlice<UInt8>) -> String? {
    // One entry per open bracket: the names seen so far for an object, nil for an array.
    var open: [Set<String>?] = []
    var index = bytes.startIndex
    while index < bytes.endIndex {
      let byte = bytes[index]
      switch byte {
      case UInt8(ascii: "{"): open.append(Set())
      case UInt8(ascii: "["): open.append(nil)
      case UInt8(ascii: "}"), UInt8(ascii: "]"): _ = open.popLast()
      case UInt8(ascii: "\""):
        let end = closingQuote(bytes, after: index)
        if var names = open.last ?? nil, isFollowedByColon(bytes, from: end + 1) {
          let name = decode(bytes[index...end])
          if !names.insert(name).inserted { return name }
          open[open.count - 1] = names
        }
        index = end
      default: break
      }
      index += 1
    }
    return nil
  }

  /// The index of the quote that ends the string starting at `start`.
  private static func closingQuote(_ bytes: ArraySlice<UInt8>, after start: Int) -> Int {
    var index = start + 1
    while index < bytes.endIndex && bytes[index] != UInt8(ascii: "\"") {
      index += bytes[index] == UInt8(ascii: "\\") ? 2 : 1
    }
    return min(index, bytes.endIndex - 1)
  }

  /// Whether the next non-space byte from `index` is `:` (the string was a member name).
  private static func isFollowedByColon(_ bytes: ArraySlice<UInt8>, from index: Int) -> Bool {
    var index = index
    while index < bytes.endIndex, [0x20, 0x0A, 0x0D, 0x09].contains(bytes[index]) { index += 1 }
    return index < bytes.endIndex && bytes[index] == UInt8(ascii: ":")
  }

  /// A string literal's text with its escapes resolved (`"\u0061"` and `"a"` are one name).
  private static func decode(_ literal: ArraySlice<UInt8>) -> String {
    let text = try? JSONSerialization.jsonObject(with: Data(literal), options: .fragmentsAllowed)
    return text as? String ?? String(decoding: literal, as: UTF8.self)
  }
}
