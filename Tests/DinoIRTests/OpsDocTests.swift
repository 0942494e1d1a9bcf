import DinoIR
import Foundation
import XCTest

/// IR/OPS.md documents every op of the catalogue.
final class OpsDocTests: XCTestCase {
  func testEveryOpHasAnEntryInOpsMd() throws {
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent()
    let text = try String(contentsOf: root.appendingPathComponent("IR/OPS.md"), encoding: .utf8)
    let headings = Set(
      text.split(separator: "\n").filter { $0.hasPrefix("### `") }
        .map { $0.dropFirst(5).prefix { $0 != "`" } }.map(String.init))
    let missing = OpKind.allOps.map(\.name).filter { !headings.contains($0) }
    XCTAssertEqual(missing, [], "ops without a '### `name`' entry in IR/OPS.md")
    let unknown = headings.filter { OpKind(name: $0) == nil }.sorted()
    XCTAssertEqual(unknown, [], "IR/OPS.md entries for ops that are not in ops.def")
  }
}
