import DinoIR
import XCTest
import _DinoTestSupport

/// Every op with an oracle row in the IR text: a drawn case as a one-op program (leaves,
/// the op with its attributes, its `result` nodes) verifies and prints, parses and prints
/// back to the same graph. The golden files stay as samples of whole programs.
final class OracleRoundTripTests: XCTestCase {
  func testEveryOpWithAKernelHasAnOracleRow() {
    for op in OpKind.allOps where !op.isLeaf && op != .result {
      XCTAssertNotNil(op.oracleRow, "\(op): no row in _DinoTestSupport/Oracle+<family>.swift")
    }
  }

  func testEveryRowRoundTripsThroughTheIRText() throws {
    var rng = TestRNG(seed: 4_242)
    for row in oracleTable {
      for size in [SizeClass.tiny, .medium] {
        let c = row.make(&rng, size)
        let label = "\(row.op) \(c.shapes) \(c.iattr) \(c.fattr)"
        let graph = Graph(programs: [try c.oneOpProgram().program])
        // Effect ops need their buffers in a persistent layout, and flat ops regions: the
        // verifier checks those on whole training programs (the golden files).
        if !row.op.isEffect {
          XCTAssertEqual(Verifier.verifyAll(graph).map(\.description), [], label)
        }
        let text = printIR(graph)
        let parsed = try parseIR(text, fileName: "\(row.op).ir")
        XCTAssertEqual(parsed, graph, "\(label): parse(print) differs\n\(text)")
        XCTAssertEqual(printIR(parsed), text, label)
      }
    }
  }
}
