import DinoIR
import XCTest

/// The one memory-plan checker (`memoryProblems`) on hand-planned IR: what the verifier's
/// slot checks refused before they were merged into it, in the checker's words.
final class MemoryPlanCheckTests: XCTestCase {
  private let x = "  %0 = input {name=\"x\"} : f32[2,3]  @ :1:5\n"

  /// The problems of `program @p { body }`.
  private func problems(_ body: String) throws -> [String] {
    let text = "#dino-ir v1 stage=planned\nfile \"model.swift\"\n\nprogram @p {\n\(body)\n}\n"
    return memoryProblems(try parseIR(text, fileName: "plan.ir").programs[0])
  }

  /// `%1 = gelu(%0)` at `slot1`, `%2 = op(%1)` at `slot2`, returning `outputs`.
  private func chain(
    _ slot1: String, _ op: String, _ slot2: String, outputs: String = "y=%2",
    arena: String = "  arena 64B 64B"
  ) -> String {
    x + "  %1 = gelu(%0) : f32[2,3] [\(slot1)]  @ :2:5\n"
      + "  %2 = \(op)(%1) : f32[2,3] [\(slot2)]  @ :3:5\n  return \(outputs)\n" + arena
  }

  func testSoundPlanPasses() throws {
    let plan = chain(
      "arena+0x00000000 24B 24B", "gelu", "arena+0x00000040 24B 24B", arena: "  arena 128B 128B")
    XCTAssertEqual(try problems(plan), [])
  }

  func testOverlapWhileBothAreLiveIsRefused() throws {
    XCTAssertEqual(
      try problems(chain("arena+0x00000000 24B 24B", "gelu", "arena+0x00000000 24B 24B")),
      ["@p: %2 [0, 24) overlaps %1 [0, 24) (gelu at 2, both are live at position 2)"])
  }

  func testSlotOutsideTheArenaIsRefused() throws {
    XCTAssertEqual(
      try problems(chain("arena+0x00000000 24B 24B", "gelu", "arena+0x00000040 24B 24B")),
      ["@p: slot of %2 [64, 88) lies outside the arena of 64 bytes"])
  }

  func testSlotSmallerThanItsValueIsRefused() throws {
    XCTAssertEqual(
      try problems(
        chain(
          "arena+0x00000000 24B 24B", "gelu", "arena+0x00000040 16B 16B",
          arena: "  arena 128B 128B")),
      ["@p: slot of %2 holds 16 bytes but f32[2,3] needs 24"])
  }

  func testSlotWithoutAnArenaIsRefused() throws {
    XCTAssertEqual(
      try problems(
        chain("arena+0x00000000 24B 24B", "gelu", "arena+0x00000040 24B 24B", arena: "")),
      ["@p has no arena size (memory is not planned)"])
  }

  func testLeafWithASlotIsRefused() throws {
    let body =
      "  %0 = input {name=\"x\"} : f32[2,3] [arena+0x00000000 24B 24B]  @ :1:5\n"
      + "  %1 = gelu(%0) : f32[2,3] [arena+0x00000040 24B 24B]  @ :2:5\n  return y=%1\n"
      + "  arena 128B 128B"
    XCTAssertEqual(
      try problems(body), ["@p: %0 (input) has an arena slot, but a leaf lives in its own region"])
  }

  func testInPlaceOnlyWhereOpsDefAllowsItAndAtTheOperandsLastUse() throws {
    let same = "arena+0x00000000 24B 24B"
    let scale = "scale(%1) {factor=2.0}"
    let inPlace = chain(same, "scale", same).replacingOccurrences(of: "scale(%1)", with: scale)
    XCTAssertEqual(try problems(inPlace), [], "scale may run in place")
    let stillLive = chain(same, "scale", same, outputs: "y=%2, z=%1")
      .replacingOccurrences(of: "scale(%1)", with: scale)
    XCTAssertEqual(
      try problems(stillLive),
      ["@p: %2 [0, 24) overlaps %1 [0, 24) (scale at 2, both are live at position 2)"],
      "operand 0 is still live: no in-place write")
  }

  func testUnplannedProblemNamesTheProgram() throws {
    XCTAssertEqual(
      unplannedProblem(Program(name: "p")), "@p has no arena size (memory is not planned)")
    var planned = Program(name: "p")
    planned.arenaBytes = 0
    XCTAssertNil(unplannedProblem(planned))
  }
}
