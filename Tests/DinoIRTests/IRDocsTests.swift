import DinoIR
import Foundation
import XCTest

/// IR/OPS.md is generated from the catalogue's doc column; IR/GRAMMAR.md's example is real
/// printer output.
final class IRDocsTests: XCTestCase {
  /// The repository's IR folder.
  static let irFolder = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent().appendingPathComponent("IR")

  private func document(_ name: String) throws -> String {
    try String(contentsOf: Self.irFolder.appendingPathComponent(name), encoding: .utf8)
  }

  /// The title of each family's section in IR/OPS.md, in table order.
  static let familyTitles: [(OpFamily, String)] = [
    (.leaf, "Leaves"), (.gemm, "GEMM"), (.eltwise, "Element-wise"), (.norm, "Normalisation"),
    (.softmax, "Softmax"), (.attention, "Attention"), (.shape, "Shape"), (.reduce, "Reductions"),
    (.random, "Randomness"), (.optim, "Optimiser and effects"),
  ]

  /// The marker line after which IR/OPS.md is generated from the table.
  static let generatedMarker =
    "<!-- Generated from the doc column of ops.def: DINO_WRITE_OPS_MD=1 swift test "
    + "--filter IRDocsTests rewrites everything below this line. -->\n"

  /// The generated part of IR/OPS.md: one section per family, one entry per op (its `doc`
  /// column under `### \`name\``), in table order.
  static func generatedOpsMarkdown() -> String {
    var text = ""
    for (family, title) in familyTitles {
      let ops = OpKind.allOps.filter { $0.family == family }
      if ops.isEmpty { continue }
      text += "\n## \(title)\n"
      for op in ops { text += "\n### `\(op.name)`\n\(op.doc)" }
    }
    return text
  }

  func testOpsMdIsGeneratedFromTheTable() throws {
    XCTAssertEqual(
      Set(Self.familyTitles.map(\.0.rawValue)), Set(OpFamily.allCases.map(\.rawValue)),
      "a family without a title in IRDocsTests.familyTitles")
    for op in OpKind.allOps {
      XCTAssertTrue(op.doc.hasSuffix("\n") && op.doc.count > 20, "\(op): no doc in ops.def")
    }
    let current = try document("OPS.md")
    let marker = try XCTUnwrap(
      current.range(of: Self.generatedMarker), "IR/OPS.md lost its generated-part marker")
    let expected = String(current[..<marker.upperBound]) + Self.generatedOpsMarkdown()
    if ProcessInfo.processInfo.environment["DINO_WRITE_OPS_MD"] != nil && expected != current {
      try expected.write(
        to: Self.irFolder.appendingPathComponent("OPS.md"), atomically: true,
        encoding: .utf8)
    }
    XCTAssertEqual(
      current, expected,
      "IR/OPS.md is stale: DINO_WRITE_OPS_MD=1 swift test --filter IRDocsTests rewrites it")
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
