/// One token of an IR text line.
struct IRToken: Equatable {
  /// What the token is.
  enum Kind: Equatable {
    /// A bare word: `linear`, `f32`, `student.backbone`, `inf`.
    case word
    /// A number as written: `-12`, `0.5`, `1e-06`, `0x0004A000`, `-inf`.
    case number
    /// A quoted string; `text` holds the decoded value.
    case string
    /// One of `% = ( ) { } [ ] , : @ ~ # +`.
    case punct
    /// The end of the line.
    case end
  }

  /// The kind.
  var kind: Kind
  /// The text (decoded for strings).
  var text: String
  /// 1-based column of the first character.
  var column: Int

  /// Whether a number token is written as a float (`.`, exponent, `inf`, `nan`).
  var isFloatNumber: Bool {
    kind == .number && !text.hasPrefix("0x")
      && (text.contains(".") || text.contains("e") || text.contains("E") || text.contains("n"))
  }

  /// A readable rendering for messages: `'linear'`, `end of line`.
  var quoted: String {
    switch kind {
    case .end: "end of line"
    case .string: IRText.quote(text)
    default: "'\(text)'"
    }
  }
}

/// Splits one line (unicode scalars, so a combining mark cannot merge with a quote) into
/// tokens; columns count scalars. `line` is the 1-based line number for error locations.
func tokenizeIRLine(
  _ chars: [Unicode.Scalar], from start: Int, line: Int, fileName: String
) throws(CompileError) -> [IRToken] {
  func fail(_ message: String, _ index: Int) -> CompileError {
    CompileError(message, at: SourceLoc(file: fileName, line: line, column: index + 1))
  }
  func text(_ range: Range<Int>) -> String {
    var s = ""
    s.unicodeScalars.append(contentsOf: chars[range])
    return s
  }
  func isDigit(_ i: Int) -> Bool { i < chars.count && ("0"..."9").contains(chars[i]) }
  func isHexDigit(_ i: Int) -> Bool {
    isDigit(i)
      || (i < chars.count && (("a"..."f").contains(chars[i]) || ("A"..."F").contains(chars[i])))
  }
  func word(at i: Int) -> Int {
    var j = i
    while j < chars.count && (j == i ? IRText.isWordStart(chars[j]) : IRText.isWordChar(chars[j])) {
      j += 1
    }
    return j
  }
  var tokens: [IRToken] = []
  var i = start
  while i < chars.count {
    let c = chars[i]
    if c == " " || c == "\t" || c == "\r" {
      i += 1
    } else if c == "/" && i + 1 < chars.count && chars[i + 1] == "/" {
      break  // a comment to the end of the line
    } else if c == "\"" {
      var value = ""
      var j = i + 1
      while true {
        guard j < chars.count else { throw fail("unterminated string", i) }
        let d = chars[j]
        if d == "\"" { break }
        if d != "\\" {
          value.unicodeScalars.append(d)
          j += 1
          continue
        }
        guard j + 1 < chars.count else { throw fail("unterminated string", i) }
        switch chars[j + 1] {
        case "\"": value += "\""
        case "\\": value += "\\"
        case "n": value += "\n"
        case "t": value += "\t"
        case "r": value += "\r"
        case "u":
          guard j + 2 < chars.count, chars[j + 2] == "{",
            let close = chars[(j + 3)...].firstIndex(of: "}"),
            let code = UInt32(text((j + 3)..<close), radix: 16),
            let scalar = Unicode.Scalar(code)
          else { throw fail("bad \\u{…} escape in string", j) }
          value.unicodeScalars.append(scalar)
          j = close - 1
        default: throw fail("unknown escape '\\\(chars[j + 1])' in string", j)
        }
        j += 2
      }
      tokens.append(IRToken(kind: .string, text: value, column: i + 1))
      i = j + 1
    } else if c == "-" || isDigit(i) {
      var j = i
      if c == "-" {
        j += 1
        let w = word(at: j)
        if ["inf", "nan"].contains(text(j..<w)) {
          tokens.append(IRToken(kind: .number, text: text(i..<w), column: i + 1))
          i = w
          continue
        }
        guard isDigit(j) else { throw fail("unexpected character '-'", i) }
      }
      if chars[j] == "0" && j + 1 < chars.count && chars[j + 1] == "x" {
        j += 2
        while isHexDigit(j) { j += 1 }
      } else {
        while isDigit(j) { j += 1 }
        if j < chars.count && chars[j] == "." {
          j += 1
          while isDigit(j) { j += 1 }
        }
        if j < chars.count && (chars[j] == "e" || chars[j] == "E") {
          var k = j + 1
          if k < chars.count && (chars[k] == "+" || chars[k] == "-") { k += 1 }
          if isDigit(k) {
            j = k
            while isDigit(j) { j += 1 }
          }
        }
      }
      tokens.append(IRToken(kind: .number, text: text(i..<j), column: i + 1))
      i = j
    } else if IRText.isWordStart(c) {
      let j = word(at: i)
      tokens.append(IRToken(kind: .word, text: text(i..<j), column: i + 1))
      i = j
    } else if "%=(){}[],:@~#+".unicodeScalars.contains(c) {
      tokens.append(IRToken(kind: .punct, text: String(c), column: i + 1))
      i += 1
    } else {
      throw fail("unexpected character '\(c)'", i)
    }
  }
  tokens.append(IRToken(kind: .end, text: "", column: chars.count + 1))
  return tokens
}
