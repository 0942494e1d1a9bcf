import DinoIR
import XCTest

/// Liveness intervals, the lower bound, and the memory checker on hand-made plans.
final class LivenessTests: XCTestCase {
  /// x (input) → a = gelu → b = gelu → c = scale (in place on b) → output; d = gelu(a) unused.
  private func chain() throws -> Program {
    try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[16]
        %1 = gelu(%0) : f32[16]
        %2 = gelu(%1) : f32[16]
        %3 = scale(%2) {factor=2.0} : f32[16]
        %4 = gelu(%1) : f32[16]
        %5 = add(%3, %4) : f32[16]
        return y=%5
      }
      """
    ).programs[0]
  }

  func testIntervalsSkipLeavesAndEffects() throws {
    let live = Liveness(try chain())
    XCTAssertNil(live.intervals[0])
    XCTAssertEqual(live.intervals[1], LiveInterval(value: ValueID(1), start: 1, end: 4, bytes: 64))
    XCTAssertEqual(live.intervals[2], LiveInterval(value: ValueID(2), start: 2, end: 3, bytes: 64))
    XCTAssertEqual(live.intervals[5]?.end, 6, "outputs live to the end")
    XCTAssertEqual(live.inPlaceSource[3], ValueID(2), "scale may reuse %2, which dies there")
    XCTAssertEqual(live.inPlaceSource[5], ValueID(3), "add may reuse %3")
    XCTAssertNil(live.inPlaceSource[2], "gelu is not in place in ops.def")
    XCTAssertNil(live.inPlaceSource[4], "gelu is not in place in ops.def")
    XCTAssertEqual(live.naiveBytes, 5 * 64)
    // Position 2: %1, %2 live (128). Position 3: %1, %2, %3 with %3 in place (128).
    // Position 4: %1, %3, %4 (192). Position 5: %3, %4, %5 with %5 in place (128).
    XCTAssertEqual(liveLowerBound(try chain()), 192)
  }

  func testInputsAndOutputsAreNeverReusedInPlace() throws {
    let program = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[4]
        %1 = scale(%0) {factor=2.0} : f32[4]
        %2 = scale(%1) {factor=2.0} : f32[4]
        %3 = reshape(%2) {shape=[2,2]} : f32[2,2]
        return a=%1, b=%3
      }
      """
    ).programs[0]
    let live = Liveness(program)
    XCTAssertNil(live.inPlaceSource[1], "operand 0 is a leaf")
    XCTAssertNil(live.inPlaceSource[2], "operand 0 is a program output")
    // A reshape is a view now (it shares %2's slot however long %2 lives), not in place.
    XCTAssertNil(live.inPlaceSource[3])
    XCTAssertEqual(live.viewSource[3], ValueID(2))
  }

  /// x → a = scale → r = reshape(a) (a view) → b = scale(a) → c = add(b, r'): the view
  /// keeps a's slot live to c, so b may not take it over in place; a reshape into an output
  /// is a view too.
  private func viewChain() throws -> Program {
    try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[4]
        %1 = scale(%0) {factor=2.0} : f32[4]
        %2 = reshape(%1) {shape=[2,2]} : f32[2,2]
        %3 = scale(%1) {factor=3.0} : f32[4]
        %4 = reshape(%2) {shape=[4]} : f32[4]
        %5 = add(%3, %4) : f32[4]
        %6 = reshape(%5) {shape=[2,2]} : f32[2,2]
        return y=%6
      }
      """
    ).programs[0]
  }

  func testReshapesAreViewsAndKeepTheirSlotLive() throws {
    let live = Liveness(try viewChain())
    XCTAssertEqual(live.viewSource[2], ValueID(1))
    XCTAssertEqual(live.viewSource[4], ValueID(2), "a view of a view")
    XCTAssertEqual(live.slotOwner[4], 1, "…shares the first value's slot")
    XCTAssertEqual(live.viewSource[6], ValueID(5), "a view may be an output")
    XCTAssertEqual(live.sharedEnd[1], 5, "%1's slot lives until %4 is read at 5")
    XCTAssertEqual(live.sharedEnd[5], 7, "an output's slot lives to the end")
    XCTAssertNil(live.inPlaceSource[3], "%1's view %4 is read later: no in-place write")
    XCTAssertEqual(live.inPlaceSource[5], ValueID(3), "%3 dies at 5; %4 is another slot's")
    // Position 3 holds %1 (and its views) and %3; views take no bytes of their own.
    XCTAssertEqual(live.naiveBytes, 3 * 16)
    XCTAssertEqual(live.lowerBound, 2 * 16)
    XCTAssertEqual(memoryStatistics(try viewChain()).viewCount, 3)
  }

  func testInPlaceOverAViewOnlyWhenEveryValueOfTheSlotDies() throws {
    let program = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[4]
        %1 = scale(%0) {factor=2.0} : f32[4]
        %2 = reshape(%1) {shape=[2,2]} : f32[2,2]
        %3 = scale(%2) {factor=3.0} : f32[2,2]
        %4 = add(%1, %1) : f32[4]
        %5 = scale(%4) {factor=3.0} : f32[4]
        %6 = reshape(%5) {shape=[2,2]} : f32[2,2]
        %7 = add(%6, %3) : f32[2,2]
        return y=%7
      }
      """
    ).programs[0]
    let live = Liveness(program)
    XCTAssertNil(live.inPlaceSource[3], "%1, which %2 views, is read at 4")
    XCTAssertEqual(live.inPlaceSource[4], ValueID(1), "the slot dies at 4 (both operands %1)")
    XCTAssertEqual(live.viewSource[6], ValueID(5))
    XCTAssertEqual(live.inPlaceSource[7], ValueID(6), "in place over a view whose slot dies")
  }

  func testViewsShareTheirSlotAndAnInPlaceWriteOverALiveViewIsRefused() throws {
    let p = try viewChain()
    // %1, its views %2 and %4 at 0; %3 at 64; %5 in place over %3; its view %6 there too.
    let sound = [1: (0, 64), 2: (0, 64), 3: (64, 64), 4: (0, 64), 5: (64, 64), 6: (64, 64)]
    XCTAssertEqual(problems(p, arena: 128, sound), [])
    var copying = sound
    copying[2] = (128, 64)
    copying[4] = (128, 64)
    XCTAssertEqual(problems(p, arena: 192, copying), [], "a reshape may still copy")
    var clobbering = sound
    clobbering[3] = (0, 64)
    clobbering[5] = (0, 64)
    clobbering[6] = (0, 64)
    XCTAssertEqual(
      problems(p, arena: 64, clobbering),
      [
        "@p: %3 [0, 64) overlaps %1 [0, 64) (scale at 3, both are live at position 3)",
        "@p: %3 [0, 64) overlaps %2 [0, 64) (scale at 3, both are live at position 3)",
        "@p: %4 [0, 64) overlaps %3 [0, 64) (reshape at 4, both are live at position 4)",
        "@p: %5 [0, 64) overlaps %4 [0, 64) (add at 5, both are live at position 5)",
      ], "scale writes %1's slot while its view %2 (read as %4 at 5) is live")
  }

  /// Plans `program` by hand: slots by value index, then checks the problems found.
  private func problems(_ program: Program, arena: Int?, _ slots: [Int: (Int, Int)]) -> [String] {
    var program = program
    program.arenaBytes = arena
    for (index, slot) in slots {
      program.nodes[index].slot = MemorySlot(offset: slot.0, size: slot.1)
    }
    return memoryProblems(program)
  }

  func testSoundHandPlanPasses() throws {
    let p = try chain()
    let plan = [1: (0, 64), 2: (64, 64), 3: (64, 64), 4: (128, 64), 5: (64, 64)]
    XCTAssertEqual(problems(p, arena: 192, plan), [])
  }

  func testCheckerFindsEachKindOfProblem() throws {
    let p = try chain()
    let good = [1: (0, 64), 2: (64, 64), 3: (64, 64), 4: (128, 64), 5: (64, 64)]
    func with(_ changes: [Int: (Int, Int)?]) -> [Int: (Int, Int)] {
      var plan = good
      for (k, v) in changes { plan[k] = v }
      return plan
    }
    XCTAssertEqual(problems(p, arena: nil, good), ["@p has no arena size (memory is not planned)"])
    XCTAssertEqual(
      problems(p, arena: 200, good), ["@p: arena size 200 is not a non-negative multiple of 64"])
    XCTAssertEqual(
      problems(p, arena: 192, with([4: nil])), ["@p: %4 (gelu, f32[16]) has no arena slot"])
    XCTAssertEqual(
      problems(p, arena: 192, with([0: (0, 64)])),
      ["@p: %0 (input) has an arena slot, but a leaf lives in its own region"])
    XCTAssertEqual(
      problems(p, arena: 192, with([4: (128, 32)])),
      ["@p: slot of %4 holds 32 bytes but f32[16] needs 64"])
    XCTAssertEqual(
      problems(p, arena: 192, with([4: (136, 64)])),
      ["@p: slot of %4 starts at 136, not a multiple of 64"])
    XCTAssertEqual(
      problems(p, arena: 192, with([4: (192, 64)])),
      ["@p: slot of %4 [192, 256) lies outside the arena of 192 bytes"])
    XCTAssertEqual(
      problems(p, arena: 192, with([2: (0, 64), 3: (0, 64), 5: (0, 64), 1: (64, 64)])), [],
      "any disjoint assignment is sound")
    XCTAssertEqual(
      problems(p, arena: 192, with([4: (64, 64)])),
      [
        "@p: %4 [64, 128) overlaps %3 [64, 128) (gelu at 4, both are live at position 4)",
        "@p: %5 [64, 128) overlaps %4 [64, 128) (add at 5, both are live at position 5)",
      ])
    XCTAssertEqual(
      problems(p, arena: 256, with([2: (0, 64)])),
      ["@p: %2 [0, 64) overlaps %1 [0, 64) (gelu at 2, both are live at position 2)"],
      "gelu may not run in place")
    XCTAssertEqual(
      problems(p, arena: 256, with([3: (64, 128)])),
      [
        "@p: %3 [64, 192) overlaps %2 [64, 128) (scale at 3, in place must reuse the exact slot)",
        "@p: %4 [128, 192) overlaps %3 [64, 192) (gelu at 4, both are live at position 4)",
        "@p: %5 [64, 128) overlaps %3 [64, 192) (add at 5, in place must reuse the exact slot)",
      ])
  }

  func testEffectResultsTakeNoSlot() throws {
    var program = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = parameter {init="zeros", name="student.w", trainable=1} : f32[4]
        %1 = input {name="x"} : f32[4]
        %2 = assign(%0, %1) : f32[]
        return
      }
      """
    ).programs[0]
    program.arenaBytes = 0
    XCTAssertEqual(memoryProblems(program), [])
    XCTAssertEqual(liveLowerBound(program), 0)
    program.nodes[2].slot = MemorySlot(offset: 0, size: 0)
    XCTAssertEqual(
      memoryProblems(program),
      ["@p: %2 (assign) has an arena slot, but an effect result is a dummy"])
  }

  func testStatistics() throws {
    var program = try chain()
    program.arenaBytes = 256
    for (i, slot) in [1: (0, 64), 2: (64, 64), 3: (64, 64), 4: (128, 64), 5: (64, 64)] {
      program.nodes[i].slot = MemorySlot(offset: slot.0, size: slot.1)
    }
    let stats = memoryStatistics(program)
    XCTAssertEqual(stats.lowerBound, 192)
    XCTAssertEqual(stats.naiveBytes, 320)
    XCTAssertEqual(stats.transientCount, 5)
    XCTAssertEqual(stats.inPlaceCount, 2)
    XCTAssertEqual(stats.viewCount, 0)
    XCTAssertEqual(stats.efficiency, 0.75)
    program.arenaBytes = nil
    XCTAssertEqual(memoryStatistics(program).efficiency, 0)
  }
}
