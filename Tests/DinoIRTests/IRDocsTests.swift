import DinoIR
import Foundation
import XCTest

/// IR/OPS.md documents every op of the catalogue; IR/GRAMMAR.md's example is real printer output.
final class IRDocsTests: XCTestCase {
  private func document(_ name: String) throws -> String {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
      .deletingLastPathComponent()
      .deletingLastPathComponent()
    return try String(
      contentsOf: root.appendingPathComponent("IR").appendingPathComponent(name), encoding: .utf8)
  }

  func testEveryOpHasAnEntryInOpsMd() throws {
    let headings = Set(
      try document("OPS.md").split(separator: "\n").filter { $0.hasPrefix("### `") }
        .map { String($0.dropFirst(5).prefix { $0 != "`" }) })
    let missing = OpKind.allOps.map(\.name).filter { !headings.contains($0) }
    XCTAssertEqual(missing, [], "ops without a '### `name`' entry in IR/OPS.md")
    let unknown = headings.filter { OpKind(name: $0) == nil }.sorted()
    XCTAssertEqual(unknown, [], "IR/OPS.md entries for ops that are not in ops.def")
  }

  func testGrammarExampleParsesVerifiesAndPrintsBackToItself() throws {
    let text = try document("GRAMMAR.md")
    let start = try XCTUnwrap(text.range(of: "## Example\n\n```\n"))
    let end = try XCTUnwrap(text.range(of: "```", range: start.upperBound..<text.endIndex))
    let example = String(text[start.upperBound..<end.lowerBound])
    let graph = try parseIR(example, fileName: "GRAMMAR.md")
    XCTAssertEqual(Verifier.verifyAll(graph), [])
    XCTAssertEqual(printIR(graph), example)
  }
}
