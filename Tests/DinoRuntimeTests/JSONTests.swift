@testable import DinoRuntime
import XCTest

/// The Foundation-backed JSON view: values, exact integers, repeated member names refused,
/// one-line errors, and string quoting that Foundation reads back.
final class JSONTests: XCTestCase {
  private func parse(_ text: String) throws(JSONError) -> JSON {
    try JSON.parse(ArraySlice(Array(text.utf8)))
  }

  private func message(_ text: String) -> String? {
    do {
      _ = try parse(text)
      return nil
    } catch {
      return error.message
    }
  }

  func testValuesAndSortedMembers() throws {
    guard case .object(let members) = try parse(#" {"b":[1,"x",true,null],"a":{}} "#) else {
      return XCTFail("not an object")
    }
    XCTAssertEqual(members.map(\.0), ["a", "b"])
    guard case .array(let items) = members[1].1, items.count == 4 else {
      return XCTFail("b is not a 4-element array")
    }
    XCTAssertEqual(items[0].nonNegativeInt, 1)
    guard case .string("x") = items[1], case .bool(true) = items[2], case .null = items[3]
    else { return XCTFail("unexpected items \(items)") }
  }

  /// Only plain non-negative integers that fit in Int are integers: not 2.0, 2e0, -2, true,
  /// or integers beyond Int64 or UInt64.
  func testExactIntegers() throws {
    let cases: [(String, Int?)] = [
      ("0", 0), ("7", 7), ("9223372036854775807", Int.max), ("2.0", nil), ("2e0", nil),
      ("-2", nil), ("true", nil), ("18446744073709551615", nil),
      ("99999999999999999999", nil), ("0.5", nil),
    ]
    for (text, expected) in cases {
      XCTAssertEqual(try parse("[\(text)]").arrayFirst?.nonNegativeInt, expected, text)
    }
    guard case .number(let text) = try parse("[0.25]").arrayFirst else {
      return XCTFail("0.25 is not a number")
    }
    XCTAssertEqual(Double(text), 0.25)
  }

  /// Foundation keeps one of two same-named members; the parser refuses them, also when
  /// spelled with escapes or nested, and leaves same names in different objects alone.
  func testRepeatedMemberNames() throws {
    XCTAssertEqual(message(#"{"a":1,"b":2,"a":3}"#), #"duplicate member "a""#)
    XCTAssertEqual(message(#"{"a":1,"\u0061":2}"#), #"duplicate member "a""#)
    XCTAssertEqual(message(#"{"x":[{"k":1,"k":2}]}"#), #"duplicate member "k""#)
    XCTAssertEqual(message(#"{"q\"":1,"q\"":2}"#), #"duplicate member "q\"""#)
    XCTAssertNil(message(#"{"a":{"a":1},"b":{"a":2},"c":["a","a"],"d":"a:"}"#))
  }

  func testErrorsAreOneLine() {
    for text in [#"{"a":"#, #"{"a":1} x"#, "[NaN]", "[1e400]", "", #"["\ud800"]"#] {
      guard let reason = message(text) else {
        XCTFail("\(text) was accepted")
        continue
      }
      XCTAssertFalse(reason.isEmpty, text)
      XCTAssertFalse(reason.contains("\n"), "\(text): \(reason)")
    }
    let deep = String(repeating: "[", count: 10_000) + String(repeating: "]", count: 10_000)
    XCTAssertNotNil(message(deep), "10 000 nested arrays")
  }

  func testQuoteReadsBack() throws {
    for text in ["plain", "a/b", "quote \" and \\", "tab\tnew\nline", "\u{1}\u{1f}", "é ☃ 𝄞"] {
      guard case .string(let back) = try parse(JSON.quote(text)) else {
        return XCTFail("\(text): not a string")
      }
      XCTAssertEqual(back, text)
    }
    XCTAssertEqual(JSON.quote("a/b\n"), #""a/b\n""#)
  }
}

extension JSON {
  /// The first element of an array value.
  fileprivate var arrayFirst: JSON? {
    guard case .array(let items) = self else { return nil }
    return items.first
  }
}
