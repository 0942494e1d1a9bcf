import DinoIR
import DinoPasses
import XCTest

@testable import DinoPlan

/// The reader never trusts the file: every damaged, truncated, foreign or newer file is
/// refused with one line, and never traps.
final class PlanCorruptionTests: XCTestCase {
  /// Flips one bit at every byte (all eight bits in the header and section table): each
  /// damaged file must be refused.
  func testEveryBitFlipIsRefused() throws {
    let bytes = try PlanWriter.encode(try PlanFixtures.planned())
    XCTAssertLessThan(bytes.count, 64 << 10)
    let tableEnd = PlanFormat.headerSize + 7 * PlanFormat.sectionEntrySize
    var damaged = bytes
    for i in bytes.indices {
      let bits = i < tableEnd ? Array(0..<8) : [i % 8]
      for bit in bits {
        damaged[i] ^= 1 << UInt8(bit)
        guard refusal(damaged) != nil else { return XCTFail("byte \(i) bit \(bit) accepted") }
        damaged[i] = bytes[i]
      }
    }
  }

  func testEveryTruncationIsRefused() throws {
    let bytes = try PlanWriter.encode(try PlanFixtures.planned())
    for length in 0..<bytes.count {
      guard refusal(Array(bytes[0..<length])) != nil else {
        return XCTFail("length \(length) accepted")
      }
    }
    XCTAssertEqual(
      refusal(Array(bytes[0..<100])),
      "plan.bin: truncated: 100 bytes, the header and section table need 272 (hint: the file is damaged or not written by dinoc: rebuild it with `dinoc compile`)"
    )
    XCTAssertEqual(
      refusal(Array(bytes.dropLast())),
      "plan.bin: truncated: the header says \(bytes.count) bytes, the file has \(bytes.count - 1) (hint: the file is damaged or not written by dinoc: rebuild it with `dinoc compile`)"
    )
  }

  /// Damages bytes of the sections and then recomputes every checksum, so that only the
  /// structural checks stand between the damage and the runtime: every byte of the tiny
  /// plan, and a spread sample of the large one (debug builds decode a few ms per plan).
  /// Each file is either refused with one line or decodes to a graph that verifies and
  /// re-encodes losslessly.
  func testResealedDamageIsCaughtByStructure() throws {
    var refused = 0, accepted = 0
    func attempt(_ damaged: PlanBytes) {
      do {
        let graph = try PlanReader.decode(damaged.bytes)
        accepted += 1
        XCTAssertNoThrow(try Verifier.verify(graph))
        for program in graph.programs { XCTAssertEqual(memoryProblems(program), []) }
        let again = try PlanWriter.encode(graph)
        XCTAssertEqual(
          try PlanWriter.encode(try PlanReader.decode(again)), again, "a lossless round trip")
      } catch {
        refused += 1
        XCTAssertFalse(error.description.contains("\n"), error.description)
      }
    }
    let tableEnd = PlanFormat.headerSize + 7 * PlanFormat.sectionEntrySize
    for (graph, flipStride, fillStride) in [
      (try PlanFixtures.tiny(), 1, 1), (try PlanFixtures.planned(), 17, 53),
    ] {
      let bytes = try PlanWriter.encode(graph)
      for i in stride(from: tableEnd, to: bytes.count, by: flipStride) {
        var flipped = PlanBytes(bytes: bytes)
        flipped.bytes[i] ^= 1 << UInt8(i % 8)
        flipped.reseal()
        attempt(flipped)
      }
      for i in stride(from: tableEnd, to: bytes.count - 3, by: fillStride) {
        for fill: UInt8 in [0xFF, 0x00, 0x7F] {
          var filled = PlanBytes(bytes: bytes)
          for k in i..<i + 4 { filled.bytes[k] = fill }
          filled.reseal()
          attempt(filled)
        }
      }
    }
    XCTAssertGreaterThan(refused, 2 * accepted, "most structural damage must be caught")
    print(
      "plan.bin resealed damage: \(refused) refused, \(accepted) accepted as another valid plan")
  }

  // MARK: - Crafted structural damage with valid checksums (the tiny plan's layout)

  /// The tiny plan, its programs section start, and a helper that damages then reseals.
  private func tiny() throws -> (PlanBytes, Int) {
    let plan = PlanBytes(bytes: try PlanWriter.encode(try PlanFixtures.tiny()))
    return (plan, plan.section(.programs).lowerBound)
  }

  private func refusedAfter(
    _ change: (inout PlanBytes, Int) -> Void, file: StaticString = #filePath, line: UInt = #line
  ) throws -> String {
    var (plan, s) = try tiny()
    change(&plan, s)
    plan.reseal()
    return refusal(plan.bytes, file: file, line: line) ?? ""
  }

  func testTinyLayoutIsWhatTheseTestsAssume() throws {
    let (plan, s) = try tiny()
    XCTAssertEqual(plan.u32(at: s), 1, "one program")
    XCTAssertEqual(plan.u32(at: s + 8), 5, "five nodes")
    XCTAssertEqual(plan.bytes[s + 12], UInt8(OpKind.input.rawValue), "node 0 is the input")
    XCTAssertEqual(plan.bytes[s + 15], 1, "with one attribute")
    XCTAssertEqual(plan.bytes[s + 19], 1, "rank 1")
    XCTAssertEqual(plan.u64(at: s + 20), 4, "f32[4]")
    XCTAssertEqual(plan.bytes[s + 32], UInt8(ascii: "s"), "a string attribute")
    XCTAssertEqual(plan.bytes[s + 53], UInt8(OpKind.gelu.rawValue), "node 1 is gelu")
    XCTAssertEqual(plan.u32(at: s + 69), 0, "reading %0")
  }

  func testStructuralDamageIsNamed() throws {
    func expect(_ fragment: String, _ change: (inout PlanBytes, Int) -> Void, line: UInt = #line)
      throws
    {
      let text = try refusedAfter(change, line: line)
      XCTAssertTrue(text.contains(fragment), "expected '\(fragment)' in: \(text)", line: line)
    }
    try expect("has op code 65535, but the op table has") { p, s in
      p.bytes[s + 12] = 0xFF; p.bytes[s + 13] = 0xFF
    }
    try expect("node count of @p 4294967295 cannot fit") { p, s in p.set32(.max, at: s + 8) }
    try expect("program count 4294967295 cannot fit") { p, s in p.set32(.max, at: s) }
    try expect("program name names string 9999 but the table has") { p, s in
      p.set32(9999, at: s + 4)
    }
    try expect("has rank 7, more than 6") { p, s in p.bytes[s + 19] = 7 }
    try expect("has dimension -1 (must be 0..<2^40)") { p, s in p.set64(.max, at: s + 20) }
    try expect("has dimension 1099511627776") { p, s in p.set64(1 << 40, at: s + 20) }
    try expect("has unknown dtype code 9") { p, s in p.bytes[s + 18] = 9 }
    try expect("operand 0 of %1 of @p is %1, not defined before it") { p, s in
      p.set32(1, at: s + 69)
    }
    try expect("has unknown kind byte 0x78") { p, s in p.bytes[s + 32] = UInt8(ascii: "x") }
    try expect("has unknown flag bits 0x80") { p, s in p.bytes[s + 14] = 0x80 }
    try expect("invalid program: constant: missing attribute 'data'") { p, s in
      p.bytes[s + 12] = UInt8(OpKind.constant.rawValue)
    }
    try expect("claims 65535 operands") { p, s in
      p.bytes[s + 16] = 0xFF; p.bytes[s + 17] = 0xFF
    }
    try expect("string count 4294967295 cannot fit") { p, _ in
      p.set32(.max, at: p.section(.strings).lowerBound)
    }
    try expect("is not valid UTF-8") { p, _ in
      let strings = p.section(.strings).lowerBound
      p.bytes[strings + 8] = 0xFF  // the first byte of string 0
    }
    try expect("lists outputs for 2 programs, the plan has 1") { p, _ in
      p.set32(2, at: p.section(.outputs).lowerBound)
    }
    try expect("output 'y' of @p names %77, which is not defined") { p, _ in
      p.set32(77, at: p.section(.outputs).lowerBound + 12)
    }
    try expect("slot of %1") { p, _ in p.set64(0, at: p.section(.arenas).lowerBound + 4) }
    try expect("arena of @p 18446744073709551615 exceeds the limit") { p, _ in
      p.set64(.max, at: p.section(.arenas).lowerBound + 4)
    }
    try expect("buffer table entry 'student.w'") { p, _ in
      let buffers = p.section(.buffers).lowerBound
      p.set64(64, at: buffers + 4 + 4 + 4 + 4 + 8 + 4)  // count, name, region, 4 flag bytes, dim, init → offset
    }
    try expect("the region table disagrees") { p, _ in
      let buffers = p.section(.buffers)
      p.set64(128, at: buffers.upperBound - 8)
    }
    try expect("hyper-parameter count 4294967295 cannot fit") { p, _ in
      p.set32(.max, at: p.section(.hyper).lowerBound)
    }
    try expect("section 'metadata' at byte") { p, _ in
      p.set32(12345, at: p.section(.metadata).lowerBound)
    }
  }

  /// Resealed files whose bytes parse but whose shapes, slots or operands are wrong: the
  /// executor re-checks nothing per step, so the reader must refuse each in one line.
  func testValidBytesWithWrongShapesOrOffsetsAreRefusedAtLoad() throws {
    var text = try refusedAfter { p, s in p.set64(5, at: s + 61) }  // gelu's f32[4] -> f32[5]
    XCTAssertTrue(text.contains("invalid program: "), text)
    XCTAssertTrue(text.contains("f32[5]"), text)
    text = try refusedAfter { p, s in p.set64(2, at: s + 20) }  // the input's f32[4] -> f32[2]
    XCTAssertTrue(text.contains("invalid program: "), text)
    XCTAssertTrue(text.contains("f32[2]"), text)
    XCTAssertFalse(text.contains("\n"), text)
  }

  func testSectionTableDamageIsNamed() throws {
    let entry = { (k: Int) in PlanFormat.headerSize + PlanFormat.sectionEntrySize * k }
    var text = try refusedAfter { p, _ in p.set64(p.u64(at: entry(1) + 8) + 1, at: entry(1) + 8) }
    XCTAssertTrue(text.contains("section 'programs' claims bytes"), text)
    text = try refusedAfter { p, _ in p.set32(9, at: entry(2)) }
    XCTAssertTrue(text.contains("entry 2 has kind 9, expected 3 (outputs)"), text)
    text = try refusedAfter { p, _ in p.set32(1, at: entry(3) + 4) }
    XCTAssertTrue(text.contains("the reserved fields of section 'arenas' are not zero"), text)
    text = try refusedAfter { p, _ in p.set64(.max, at: entry(6) + 16) }
    XCTAssertTrue(text.contains("section 'metadata' claims bytes"), text)
    text = try refusedAfter { p, _ in p.set32(8, at: 40) }
    XCTAssertTrue(text.contains("the header lists 8 sections; format version 1 has 7"), text)
    text = try refusedAfter { p, _ in p.set32(32, at: 28) }
    XCTAssertTrue(text.contains("alignment 32 in the header, this reader needs 64"), text)
    text = try refusedAfter { p, _ in
      p.bytes.append(0)
      p.set64(UInt64(p.bytes.count), at: 32)
    }
    XCTAssertTrue(text.contains("the sections end at byte"), text)
    var (plan, _) = try tiny()
    plan.bytes.append(0)
    XCTAssertTrue(refusal(plan.bytes)?.contains("has trailing bytes") ?? false)
  }

  func testSoundFileWithUnsoundGraphIsRefused() throws {
    var graph = try PlanFixtures.planned()
    let p = graph.programIndex("features")!
    graph.programs[p].nodes[4].slot = graph.programs[p].nodes[3].slot
    let text = refusal(try PlanWriter.encode(graph, validating: false)) ?? ""
    // The memory proof, not the verifier, refuses the overlap (one checker).
    XCTAssertTrue(
      text.hasPrefix("plan.bin: unsound memory plan: @features: %4 ")
        && text.contains(" overlaps %3 "), text)

    var unplanned = try parseIR(PlanFixtures.text)
    unplanned.stage = "captured"
    let text2 = refusal(try PlanWriter.encode(unplanned, validating: false)) ?? ""
    XCTAssertTrue(
      text2.contains(
        "unsound memory plan: @train_step: %7 (patch_embed, f32[2,4,8]) has no arena slot"), text2)

    var mistyped = try PlanFixtures.tiny()
    mistyped.programs[0].nodes[4].type = TensorType(.f32, [4, 1])
    let text3 = refusal(try PlanWriter.encode(mistyped, validating: false)) ?? ""
    XCTAssertTrue(
      text3.hasPrefix(
        "plan.bin: invalid program: mul: stored type f32[4,1] differs from inferred f32[4]"), text3)
  }

  func testNewerVersionIsRefusedByName() throws {
    var (plan, _) = try tiny()
    plan.set32(2, at: 8)
    plan.reseal()
    XCTAssertEqual(
      refusal(plan.bytes),
      "plan.bin: format version 2 is newer than this reader (1) (hint: rebuild the plan with the dinoc that matches this dino-run)"
    )
    plan.set32(0, at: 8)
    plan.reseal()
    XCTAssertTrue(refusal(plan.bytes)?.contains("format version 0 does not exist") ?? false)
  }

  func testMismatchedOpTableIsRefused() throws {
    var (plan, _) = try tiny()
    plan.set64(PlanFormat.opTableFingerprint ^ 1, at: 16)
    plan.reseal()
    let text = refusal(plan.bytes) ?? ""
    XCTAssertTrue(
      text.hasPrefix("plan.bin: mismatched op table: the plan was compiled against an IR/ops.def"),
      text)
    XCTAssertTrue(
      text.hasSuffix("(hint: rebuild the plan with the dinoc that matches this dino-run)"), text)
    (plan, _) = try tiny()
    plan.set32(plan.u32(at: 24) + 1, at: 24)
    plan.reseal()
    XCTAssertTrue(refusal(plan.bytes)?.contains("mismatched op table") ?? false)
  }

  func testForeignFilesAreRefused() {
    let hint = "(hint: pass the plan.bin written by `dinoc compile`)"
    XCTAssertEqual(refusal([]), "plan.bin: the file is empty, not a plan \(hint)")
    let png: [UInt8] = [0x89, 0x50, 0x4E, 0x47, 0x0D, 0x0A, 0x1A, 0x0A, 0, 0, 0, 13]
    XCTAssertEqual(
      refusal(png), "plan.bin: not a plan: it does not start with \"DINOPLAN\" \(hint)")
    XCTAssertEqual(
      refusal(Array("DINOPLA".utf8)),
      "plan.bin: not a plan: it does not start with \"DINOPLAN\" \(hint)")
    XCTAssertTrue(
      refusal(Array("DINOPLAN".utf8))?.contains("truncated: 8 bytes, the header alone needs 48")
        ?? false)
    var rng = SystemRandomNumberGenerator()
    for _ in 0..<50 {
      var random = (0..<Int.random(in: 0..<4096, using: &rng)).map { _ in
        UInt8.random(in: 0...255, using: &rng)
      }
      if Bool.random(using: &rng) && random.count >= 8 {
        random.replaceSubrange(0..<8, with: PlanFormat.magic)
      }
      _ = refusal(random)
    }
  }

  func testErrorLinesEscapeControlCharacters() {
    let error = PlanError("name 'a\nb\tc' is odd", hint: "x")
    XCTAssertEqual(error.description, "plan.bin: name 'a\\u{a}b\\u{9}c' is odd (hint: x)")
    let long = PlanError(String(repeating: "z", count: 5000))
    XCTAssertLessThan(long.description.count, 700)
  }
}
