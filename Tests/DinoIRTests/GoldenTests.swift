import DinoIR
import Foundation
import XCTest

/// The hand-written IR files in Golden/: each parses, verifies and prints back to itself.
/// They are samples of whole programs; every op's own round trip derives from its oracle
/// row (`OracleRoundTripTests`).
///
/// `RECORD_GOLDEN=1 swift test --filter GoldenTests` rewrites each file in the source tree
/// in canonical form (the printer's spacing), for review with `git diff`.
final class GoldenTests: XCTestCase {
  /// (file name, text) of every golden file, sorted by name.
  static func goldens() throws -> [(name: String, text: String)] {
    let folder = try XCTUnwrap(Bundle.module.url(forResource: "Golden", withExtension: nil))
    let names = try FileManager.default.contentsOfDirectory(atPath: folder.path)
      .filter { $0.hasSuffix(".ir") }.sorted()
    return try names.map {
      ($0, try String(contentsOf: folder.appendingPathComponent($0), encoding: .utf8))
    }
  }

  func testGoldensParseVerifyAndRoundTrip() throws {
    let goldens = try Self.goldens()
    XCTAssertGreaterThanOrEqual(goldens.count, 5)
    for (name, text) in goldens {
      let graph = try parseIR(text, fileName: name)
      XCTAssertEqual(Verifier.verifyAll(graph).map(\.description), [], name)
      let printed = printIR(graph)
      if ProcessInfo.processInfo.environment["RECORD_GOLDEN"] != nil && printed != text {
        let source = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
          .appendingPathComponent("Golden").appendingPathComponent(name)
        try printed.write(to: source, atomically: true, encoding: .utf8)
      }
      XCTAssertEqual(printed, text, "\(name) does not print back to itself")
      XCTAssertEqual(try parseIR(printed, fileName: name), graph, name)
    }
  }

  func testGoldensWithoutMemoryDropSlotsAndArena() throws {
    let text = try XCTUnwrap(Self.goldens().first { $0.name == "planned.ir" }).text
    var graph = try parseIR(text, fileName: "planned.ir")
    XCTAssertEqual(graph.programs[0].nodes[3].slot, MemorySlot(offset: 128, size: 128))
    XCTAssertEqual(graph.programs[1].arenaBytes, 2_102_784)
    let bare = printIR(graph, memory: false)
    XCTAssertFalse(bare.contains("arena"))
    for index in graph.programs.indices {
      graph.programs[index].arenaBytes = nil
      for n in graph.programs[index].nodes.indices { graph.programs[index].nodes[n].slot = nil }
    }
    XCTAssertEqual(try parseIR(bare), graph)
    XCTAssertEqual(printIR(graph), bare)
  }
}
