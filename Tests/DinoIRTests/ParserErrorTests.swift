import DinoIR
import XCTest

/// Syntax errors: one clear line at `file.ir:LINE:COL`, never a crash.
final class ParserErrorTests: XCTestCase {
  /// A valid text whose line `n` (1-based, n ≥ 5) is replaced by `line`.
  private func text(replacing n: Int, with line: String) -> String {
    var lines = [
      "#dino-ir v1 stage=captured",
      "file \"m.swift\"",
      "",
      "program @p {",
      "  %0 = input {name=\"x\"} : f32[2]  @ :1:1",
      "  %1 = gelu(%0) : f32[2]  @ :2:5",
      "  return y=%1",
      "}",
    ]
    lines[n - 1] = line
    return lines.joined(separator: "\n") + "\n"
  }

  private func assertParseError(
    _ text: String, _ expected: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    do {
      _ = try parseIR(text, fileName: "t.ir")
      XCTFail("parsed without error; expected \(expected)", file: file, line: line)
    } catch {
      XCTAssertEqual(error.description, expected, file: file, line: line)
      XCTAssertEqual(error.loc.file, "t.ir", file: file, line: line)
    }
  }

  func testTheBaseTextParses() throws {
    let graph = try parseIR(text(replacing: 6, with: "  %1 = gelu(%0) : f32[2]  @ :2:5"))
    XCTAssertEqual(graph.programs[0].nodes[1].loc, SourceLoc(file: "m.swift", line: 2, column: 5))
  }

  func testHeaderErrors() {
    assertParseError("hello\n", "t.ir:1:1: error: expected the header '#dino-ir v1 stage=…'")
    assertParseError(
      "#dino-ir v2 stage=x\n",
      "t.ir:1:10: error: unsupported IR version 'v2' (this parser reads v1)")
    assertParseError(
      "#dino-ir v1 stage=\n", "t.ir:1:19: error: expected a stage name, got end of line")
    assertParseError(
      "#dino-ir v1 stage=a\nfile \"x\"\nfile \"y\"\n", "t.ir:3:1: error: duplicate 'file' line")
    assertParseError(
      "#dino-ir v1 stage=a\nhyper lr=fast\n", "t.ir:2:10: error: expected a number, got 'fast'")
    assertParseError(
      "#dino-ir v1 stage=a\nmeta k=\"1\"\nmeta k=\"2\"\n", "t.ir:3:6: error: duplicate meta key 'k'"
    )
  }

  func testNodeErrors() {
    assertParseError(
      text(replacing: 6, with: "  %1 = gleu(%0) : f32[2]"), "t.ir:6:8: error: unknown op 'gleu'")
    assertParseError(
      text(replacing: 6, with: "  %2 = gelu(%0) : f32[2]"),
      "t.ir:6:4: error: expected %1 (values are numbered densely), got %2")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) f32[2]"),
      "t.ir:6:17: error: expected ':', got 'f32'")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) : f64[2]"),
      "t.ir:6:19: error: expected an element type (f32, i32), got 'f64'")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) : f32[-2]"),
      "t.ir:6:23: error: negative dimension -2")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(0) : f32[2]"), "t.ir:6:13: error: expected '%', got '0'"
    )
    assertParseError(
      text(replacing: 5, with: "  %0 = input {name=\"x} : f32[2]"),
      "t.ir:5:20: error: unterminated string")
    assertParseError(
      text(replacing: 5, with: "  %0 = input {name=\"x\\q\"} : f32[2]"),
      "t.ir:5:22: error: unknown escape '\\q' in string")
    assertParseError(
      text(replacing: 5, with: "  %0 = input {name=\"x\", name=\"y\"} : f32[2]"),
      "t.ir:5:25: error: duplicate attribute 'name'")
    assertParseError(
      text(replacing: 6, with: "  %1 = reshape(%0) {shape=[1,2.0]} : f32[2]"),
      "t.ir:6:27: error: list mixes integers and floats (write floats with a '.')")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) {k=yes} : f32[2]"),
      "t.ir:6:20: error: expected an attribute value, got 'yes'")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) : f32[2] $"),
      "t.ir:6:26: error: unexpected character '$'")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) : f32[2]  @ :2:5 fw"),
      "t.ir:6:34: error: unexpected 'fw' at end of line")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) : f32[2] [arena+0x00000000 8B 9B]"),
      "t.ir:6:47: error: size does not match 8 bytes (expected 8B)")
    assertParseError(
      text(replacing: 6, with: "  %1 = gelu(%0) : f32[2] [arena+64 8B 8B]"),
      "t.ir:6:33: error: expected a hex offset like 0x00000040, got '64'")
  }

  func testProgramStructureErrors() {
    assertParseError(
      text(replacing: 8, with: "  %2 = gelu(%1) : f32[2]"),
      "t.ir:8:3: error: expected 'arena', 'data' or '}', got '%'")
    assertParseError(
      text(replacing: 7, with: "}"), "t.ir:7:1: error: expected 'return' before '}'")
    assertParseError(
      text(replacing: 8, with: ""),
      "t.ir:9:1: error: missing '}' closing program @p (opened on line 4)")
    assertParseError(
      text(replacing: 7, with: "  return y=%1 z"), "t.ir:7:15: error: unexpected 'z' at end of line"
    )
    assertParseError(
      text(replacing: 6, with: "  retrun y=%1"),
      "t.ir:6:3: error: expected '%1', 'scope' or 'return', got 'retrun'")
    assertParseError(
      text(replacing: 3, with: "meta"), "t.ir:3:5: error: expected a meta key name, got end of line"
    )
    assertParseError(
      text(replacing: 3, with: "") + "meta k=\"v\"\n",
      "t.ir:9:1: error: expected 'program', got 'meta'")
    assertParseError(
      text(replacing: 2, with: ""),
      "t.ir:5:37: error: a location without a file needs a 'file \"…\"' line after the header")
  }

  func testDataBlockErrors() {
    let node = "  %1 = constant {data=#0} : f32[2]"
    assertParseError(text(replacing: 6, with: node), "t.ir:6:23: error: undefined data #0")
    let block = "  return y=%1\n  data #0 = [\n    1.0, 2.0\n  ]"
    XCTAssertNoThrow(
      try parseIR(
        text(replacing: 7, with: block).replacingOccurrences(
          of: "  %1 = gelu(%0) : f32[2]  @ :2:5", with: node)))
    assertParseError(text(replacing: 7, with: block), "t.ir:8:3: error: data #0 is never used")
    assertParseError(
      text(replacing: 7, with: "  return y=%1\n  data #1 = ["),
      "t.ir:8:9: error: expected data #0 (data blocks are numbered densely)")
    assertParseError(
      text(replacing: 7, with: "  return y=%1\n  data #0 = [\n    1.0,\n  ]"),
      "t.ir:10:3: error: expected a float after ','")
    assertParseError(
      text(replacing: 7, with: "  return y=%1\n  data #0 = [\n    1.0 2.0\n  ]"),
      "t.ir:9:9: error: expected ',', got '2.0'")
    assertParseError(
      text(replacing: 7, with: "  return y=%1\n  data #0 = [\n    1.0, x\n  ]"),
      "t.ir:9:10: error: expected a float, got 'x'")
  }
}
