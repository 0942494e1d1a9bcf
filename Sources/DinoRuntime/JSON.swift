/// A parsed JSON value, as strict as RFC 8259; numbers keep their text so integers
/// can be read exactly (safetensors offsets are u64).
enum JSON: Equatable {
  /// `{…}`, members in file order (duplicate names are rejected by the parser).
  case object([(String, JSON)])
  /// `[…]`.
  case array([JSON])
  /// A string.
  case string(String)
  /// A number, as written.
  case number(String)
  /// `true` / `false`.
  case bool(Bool)
  /// `null`.
  case null

  static func == (a: JSON, b: JSON) -> Bool {
    switch (a, b) {
    case (.object(let x), .object(let y)):
      x.count == y.count && zip(x, y).allSatisfy { $0.0 == $1.0 && $0.1 == $1.1 }
    case (.array(let x), .array(let y)): x == y
    case (.string(let x), .string(let y)): x == y
    case (.number(let x), .number(let y)): x == y
    case (.bool(let x), .bool(let y)): x == y
    case (.null, .null): true
    default: false
    }
  }

  /// A non-negative integer that fits in `Int`, or `nil` (fractions, exponents, signs).
  var nonNegativeInt: Int? {
    guard case .number(let text) = self, !text.isEmpty,
      text.utf8.allSatisfy({ $0 >= 48 && $0 <= 57 })
    else { return nil }
    return Int(text)
  }

  /// Parses `bytes` as one JSON value, optionally followed by whitespace.
  static func parse(_ bytes: ArraySlice<UInt8>) throws(JSONError) -> JSON {
    var parser = JSONParser(bytes: bytes)
    parser.skipSpace()
    let value = try parser.value(depth: 0)
    parser.skipSpace()
    if parser.index != bytes.endIndex { throw parser.error("unexpected text after the value") }
    return value
  }

  /// Renders `text` as a JSON string literal.
  static func quote(_ text: String) -> String {
    var out = "\""
    for scalar in text.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      default:
        if scalar.value < 0x20 {
          let hex = String(scalar.value, radix: 16)
          out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        } else {
          out.unicodeScalars.append(scalar)
        }
      }
    }
    return out + "\""
  }
}

/// A JSON syntax error with its byte position.
struct JSONError: Error {
  /// What and where.
  var message: String
}

/// A recursive-descent parser over UTF-8 bytes.
private struct JSONParser {
  let bytes: ArraySlice<UInt8>
  var index: Int

  init(bytes: ArraySlice<UInt8>) {
    self.bytes = bytes
    self.index = bytes.startIndex
  }

  func error(_ message: String) -> JSONError {
    JSONError(message: "\(message) at byte \(index - bytes.startIndex)")
  }

  var current: UInt8? { index < bytes.endIndex ? bytes[index] : nil }

  mutating func skipSpace() {
    while let c = current, c == 0x20 || c == 0x0A || c == 0x0D || c == 0x09 { index += 1 }
  }

  mutating func expect(_ c: UInt8) throws(JSONError) {
    guard current == c else { throw error("expected '\(Character(Unicode.Scalar(c)))'") }
    index += 1
  }

  mutating func value(depth: Int) throws(JSONError) -> JSON {
    if depth > 64 { throw error("nesting too deep") }
    guard let c = current else { throw error("unexpected end of text") }
    switch c {
    case UInt8(ascii: "{"): return try object(depth: depth)
    case UInt8(ascii: "["): return try array(depth: depth)
    case UInt8(ascii: "\""): return .string(try string())
    case UInt8(ascii: "t"):
      try literal("true")
      return .bool(true)
    case UInt8(ascii: "f"):
      try literal("false")
      return .bool(false)
    case UInt8(ascii: "n"):
      try literal("null")
      return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try number())
    default: throw error("unexpected character")
    }
  }

  mutating func literal(_ word: String) throws(JSONError) {
    for byte in word.utf8 {
      guard current == byte else { throw error("invalid literal") }
      index += 1
    }
  }

  mutating func object(depth: Int) throws(JSONError) -> JSON {
    index += 1
    var members: [(String, JSON)] = []
    var names = Set<String>()
    skipSpace()
    if current == UInt8(ascii: "}") {
      index += 1
      return .object(members)
    }
    while true {
      skipSpace()
      guard current == UInt8(ascii: "\"") else { throw error("expected a member name") }
      let name = try string()
      if !names.insert(name).inserted { throw error("duplicate member \(JSON.quote(name))") }
      skipSpace()
      try expect(UInt8(ascii: ":"))
      skipSpace()
      members.append((name, try value(depth: depth + 1)))
      skipSpace()
      if current == UInt8(ascii: ",") {
        index += 1
        continue
      }
      try expect(UInt8(ascii: "}"))
      return .object(members)
    }
  }

  mutating func array(depth: Int) throws(JSONError) -> JSON {
    index += 1
    var elements: [JSON] = []
    skipSpace()
    if current == UInt8(ascii: "]") {
      index += 1
      return .array(elements)
    }
    while true {
      skipSpace()
      elements.append(try value(depth: depth + 1))
      skipSpace()
      if current == UInt8(ascii: ",") {
        index += 1
        continue
      }
      try expect(UInt8(ascii: "]"))
      return .array(elements)
    }
  }

  mutating func number() throws(JSONError) -> String {
    let start = index
    func digits(_ p: inout JSONParser) -> Int {
      var n = 0
      while let c = p.current, c >= 48 && c <= 57 {
        p.index += 1
        n += 1
      }
      return n
    }
    if current == UInt8(ascii: "-") { index += 1 }
    if current == UInt8(ascii: "0") {
      index += 1
    } else if digits(&self) == 0 {
      throw error("invalid number")
    }
    if current == UInt8(ascii: ".") {
      index += 1
      if digits(&self) == 0 { throw error("invalid number") }
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      index += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
      if digits(&self) == 0 { throw error("invalid number") }
    }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  mutating func hex4() throws(JSONError) -> UInt32 {
    var v: UInt32 = 0
    for _ in 0..<4 {
      guard let c = current else { throw error("truncated \\u escape") }
      let d: UInt32
      switch c {
      case 48...57: d = UInt32(c - 48)
      case 65...70: d = UInt32(c - 55)
      case 97...102: d = UInt32(c - 87)
      default: throw error("invalid \\u escape")
      }
      v = v * 16 + d
      index += 1
    }
    return v
  }

  mutating func string() throws(JSONError) -> String {
    index += 1
    var out: [UInt8] = []
    while true {
      guard let c = current else { throw error("unterminated string") }
      index += 1
      switch c {
      case UInt8(ascii: "\""):
        guard let text = String(validating: out, as: UTF8.self) else {
          throw error("string is not valid UTF-8")
        }
        return text
      case UInt8(ascii: "\\"):
        guard let e = current else { throw error("unterminated string") }
        index += 1
        switch e {
        case UInt8(ascii: "\""): out.append(0x22)
        case UInt8(ascii: "\\"): out.append(0x5C)
        case UInt8(ascii: "/"): out.append(0x2F)
        case UInt8(ascii: "b"): out.append(0x08)
        case UInt8(ascii: "f"): out.append(0x0C)
        case UInt8(ascii: "n"): out.append(0x0A)
        case UInt8(ascii: "r"): out.append(0x0D)
        case UInt8(ascii: "t"): out.append(0x09)
        case UInt8(ascii: "u"):
          var scalar = try hex4()
          if scalar >= 0xD800 && scalar < 0xDC00 {
            try expect(UInt8(ascii: "\\"))
            try expect(UInt8(ascii: "u"))
            let low = try hex4()
            guard low >= 0xDC00 && low < 0xE000 else { throw error("invalid surrogate pair") }
            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
          }
          guard let u = Unicode.Scalar(scalar) else { throw error("invalid \\u escape") }
          out += Array(String(Character(u)).utf8)
        default: throw error("invalid escape")
        }
      default:
        if c < 0x20 { throw error("control character in string") }
        out.append(c)
      }
    }
  }
}
