import DinoIR
import DinoPasses
import Foundation
import XCTest

@testable import DinoPlan

/// Encoding and decoding: exact round trips, determinism, the header's fields, file helpers.
final class PlanRoundTripTests: XCTestCase {
  func testRoundTripIsExact() throws {
    let graph = try PlanFixtures.planned()
    XCTAssertEqual(graph.programs.count, 3)
    let bytes = try PlanWriter.encode(graph)
    let decoded = try PlanReader.decode(bytes)
    XCTAssertEqual(decoded, graph)
    XCTAssertEqual(printIR(decoded), printIR(graph))
    XCTAssertEqual(try PlanWriter.encode(decoded), bytes, "encoding is deterministic")
    // The fixture exercises what the format must carry.
    let kinds = Set(graph.programs.flatMap { $0.nodes.flatMap { $0.attrs.values.map(\.kind) } })
    XCTAssertEqual(kinds, [.int, .float, .string, .ints, .floats])
    let nodes = graph.programs.flatMap(\.nodes)
    XCTAssertTrue(nodes.contains { $0.isBackward })
    XCTAssertTrue(nodes.contains { $0.loc.inferred })
    XCTAssertTrue(nodes.contains { $0.type.dtype == .i32 })
    XCTAssertTrue(nodes.contains { $0.slot != nil })
    XCTAssertEqual(decoded.metadata["note"], "tab\there")
    XCTAssertEqual(decoded.hyper["momentum_teacher"], 0.996)
    XCTAssertEqual(decoded.stage, "plan_memory")
  }

  func testHeaderFields() throws {
    let plan = PlanBytes(bytes: try PlanWriter.encode(try PlanFixtures.tiny()))
    XCTAssertEqual(Array(plan.bytes[0..<8]), Array("DINOPLAN".utf8))
    XCTAssertEqual(plan.u32(at: 8), 1, "format version")
    XCTAssertEqual(Array(plan.bytes[12..<16]), [4, 3, 2, 1], "little-endian byte-order mark")
    XCTAssertEqual(plan.u64(at: 16), PlanFormat.opTableFingerprint)
    XCTAssertEqual(Int(plan.u32(at: 24)), OpKind.allOps.count)
    XCTAssertEqual(plan.u32(at: 28), 64)
    XCTAssertEqual(Int(plan.u64(at: 32)), plan.bytes.count)
    XCTAssertEqual(plan.u32(at: 40), 7)
    var end = PlanFormat.headerSize + 7 * PlanFormat.sectionEntrySize
    for kind in PlanFormat.Section.allCases {
      XCTAssertEqual(plan.section(kind).lowerBound, end, "\(kind) is contiguous")
      end = plan.section(kind).upperBound
    }
    XCTAssertEqual(end, plan.bytes.count)
  }

  func testChecksumAndHashVectors() {
    let check = Array("123456789".utf8)
    XCTAssertEqual(PlanFormat.crc32(check, 0..<check.count), 0xCBF4_3926, "the CRC-32 check value")
    XCTAssertEqual(
      PlanFormat.crc32(check, 4..<9, seed: PlanFormat.crc32(check, 0..<4)), 0xCBF4_3926, "chaining")
    XCTAssertEqual(PlanFormat.fnv1a64([]), 0xCBF2_9CE4_8422_2325)
    XCTAssertEqual(PlanFormat.fnv1a64(Array("a".utf8)), 0xAF63_DC4C_8601_EC8C)
  }

  func testFingerprintHashesEveryOpRow() {
    let lines = PlanFormat.opTableText.split(separator: "\n")
    XCTAssertEqual(lines.count, OpKind.allOps.count)
    XCTAssertTrue(lines.contains("adamw_update|optim|8|0|29|beta1:f,beta2:f,eps:f,decay:i"))
    XCTAssertTrue(lines.contains("concat|shape|-1|0|0|axis:i"))
    XCTAssertTrue(lines.contains("add|eltwise|2|1|0|"))
    XCTAssertEqual(
      PlanFormat.opTableFingerprint, PlanFormat.fnv1a64(Array(PlanFormat.opTableText.utf8)))
  }

  func testWriterRefusesUnplannedGraphs() throws {
    let graph = try parseIR(PlanFixtures.text)
    XCTAssertThrowsError(try PlanWriter.encode(graph)) {
      XCTAssertEqual(
        "\($0)",
        "plan.bin: cannot write: @train_step has no arena size (memory is not planned) (hint: write plans from the output of the full pass pipeline (`Pipeline.run`))"
      )
    }
  }

  func testWriterRefusesInvalidGraphs() throws {
    var graph = try PlanFixtures.tiny()
    graph.programs[0].nodes[1].type = TensorType(.f32, [5])
    XCTAssertThrowsError(try PlanWriter.encode(graph)) {
      XCTAssertTrue("\($0)".hasPrefix("plan.bin: cannot write an invalid graph: "), "\($0)")
    }
  }

  func testFiles() throws {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "dino-plan-\(UUID())")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: folder) }
    let path = folder.appendingPathComponent("plan.bin").path
    let graph = try PlanFixtures.planned()
    try PlanWriter.write(graph, to: path)
    XCTAssertEqual(try PlanReader.read(contentsOf: path), graph)

    let missing = folder.appendingPathComponent("missing.bin").path
    XCTAssertThrowsError(try PlanReader.read(contentsOf: missing)) {
      XCTAssertEqual("\($0)", "\(missing): cannot open the file (hint: check the path)")
    }
    let bad = folder.appendingPathComponent("bad.bin").path
    try Data("hello".utf8).write(to: URL(fileURLWithPath: bad))
    XCTAssertThrowsError(try PlanReader.read(contentsOf: bad)) {
      XCTAssertTrue("\($0)".hasPrefix("\(bad): not a plan"), "\($0)")
    }
    let nowhere = folder.appendingPathComponent("no/such/folder/plan.bin").path
    XCTAssertThrowsError(try PlanWriter.write(graph, to: nowhere)) {
      XCTAssertTrue("\($0)".hasPrefix("\(nowhere): cannot write"), "\($0)")
      XCTAssertFalse("\($0)".contains("\n"))
    }
  }

  /// Views (reshapes sharing their operand's slot) are counted, and a slot's row lives until
  /// its last view dies, naming the value that writes it and how many views share it
  /// (unfused: the gelu and the add would be an `eltwise_chain`).
  func testMemoryReportShowsViews() throws {
    let graph = try Pipeline.run(
      try parseIR(
        """
        #dino-ir v1 stage=captured
        program @p {
          %0 = input {name="x"} : f32[4]
          %1 = gelu(%0) : f32[4]
          %2 = reshape(%1) {shape=[2,2]} : f32[2,2]
          %3 = gelu(%1) : f32[4]
          %4 = reshape(%2) {shape=[4]} : f32[4]
          %5 = add(%3, %4) : f32[4]
          return y=%5
        }
        """), fusing: false)
    XCTAssertEqual(
      memoryReport(graph),
      """
      memory @p: arena 128B (128B), lower bound 32B (32B), efficiency 25.0%
        naive 48B, 5 transient values, 1 in place, 2 views (reshapes sharing a slot)
        largest lifetimes (bytes × positions live):
          %1  gelu  f32[4]  16B  live 1..5 (2 views)  at 0x00000000
          %3  gelu  f32[4]  16B  live 3..5            at 0x00000040
          %5  add   f32[4]  16B  live 5..end          at 0x00000040

      """)
  }

  func testMemoryReport() throws {
    // %2 = scale and %4 = mul run in place over %1 = gelu: one 16-byte block.
    XCTAssertEqual(
      memoryReport(try PlanFixtures.tiny()),
      """
      memory @p: arena 64B (64B), lower bound 16B (16B), efficiency 25.0%
        naive 48B, 3 transient values, 2 in place
        largest lifetimes (bytes × positions live):
          %2  scale  f32[4]  16B  live 2..4    at 0x00000000
          %1  gelu   f32[4]  16B  live 1..2    at 0x00000000
          %4  mul    f32[4]  16B  live 4..end  at 0x00000000
      persistent regions: student 64B

      """)
    let report = memoryReport(try PlanFixtures.planned())
    XCTAssertTrue(report.contains("memory @train_step: arena "), report)
    XCTAssertEqual(
      report.split(separator: "\n").filter { $0.hasPrefix("    %") }.count, 10 + 2, report)
    XCTAssertTrue(
      report.hasSuffix(
        "persistent regions: student 3.6KiB, center 64B, adam_m 3.6KiB, adam_v 3.6KiB, adam_step 64B, grad 3.6KiB, teacher 3.6KiB\n"
      ), report)
  }

}
