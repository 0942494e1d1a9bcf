import DinoIR
import DinoPasses
import XCTest

/// Planner properties on the MLP and on random DAGs: sound (no overlap, in place only where
/// allowed), arena between the liveness lower bound and the naive sum, efficiency reported.
final class PlanMemoryTests: XCTestCase {
  /// Checks the planner's properties on every program of `graph` (already scheduled).
  private func assertPlanProperties(
    _ graph: Graph, file: StaticString = #filePath, line: UInt = #line
  ) throws -> Graph {
    let planned = try planMemory(graph)
    XCTAssertEqual(planned.stage, "plan_memory", file: file, line: line)
    try Verifier.verify(planned)
    for program in planned.programs {
      XCTAssertEqual(memoryProblems(program), [], file: file, line: line)
      let live = Liveness(program)
      let arena = try XCTUnwrap(program.arenaBytes, file: file, line: line)
      let naive = live.transient.reduce(0) { $0 + alignedToArena($1.bytes) }
      XCTAssertLessThanOrEqual(arena, naive, "arena above the naive sum", file: file, line: line)
      XCTAssertGreaterThanOrEqual(
        arena, live.lowerBound, "arena below the lower bound", file: file, line: line)
      for (index, node) in program.nodes.enumerated() {
        XCTAssertEqual(node.slot != nil, node.isTransient, "%\(index)", file: file, line: line)
        guard let slot = node.slot, let first = node.operands.first, program[first].slot == slot
        else { continue }
        // Same slot as operand 0: only legal in place, or for a view (a reshape).
        XCTAssertTrue(
          node.op.allowsInPlace, "%\(index) \(node.op.name) shares %\(first.index)", file: file,
          line: line)
        XCTAssertEqual(
          live.inPlaceSource[index] ?? live.viewSource[index], first, file: file, line: line)
      }
      let stats = memoryStatistics(program)
      XCTAssertGreaterThan(stats.efficiency, 0, file: file, line: line)
      XCTAssertLessThanOrEqual(stats.efficiency, 1, file: file, line: line)
    }
    return planned
  }

  func testChainArenaIsExact() throws {
    let graph = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[16]
        %1 = gelu(%0) : f32[16]
        %2 = gelu(%1) : f32[16]
        %3 = scale(%2) {factor=2.0} : f32[16]
        %4 = gelu(%1) : f32[16]
        %5 = add(%3, %4) : f32[16]
        %6 = reduce_sum(%5) {axis=0, keepdims=0} : f32[]
        return y=%6
      }
      """)
    let planned = try assertPlanProperties(graph)
    let p = planned.programs[0]
    XCTAssertEqual(p.arenaBytes, 192, "the liveness lower bound is reached")
    XCTAssertEqual(p.nodes[3].slot, p.nodes[2].slot, "scale in place")
    XCTAssertEqual(p.nodes[5].slot, p.nodes[3].slot, "add in place")
    XCTAssertEqual(p.nodes[6].slot?.size, 4)
    XCTAssertNil(p.nodes[0].slot)
  }

  func testMLPPlan() throws {
    let graph = try schedule(try PassFixtures.mlp())
    let planned = try assertPlanProperties(graph)
    let train = try XCTUnwrap(planned.program("train_step"))
    let stats = memoryStatistics(train)
    XCTAssertGreaterThan(stats.inPlaceCount, 0, "the MLP has in-place chains")
    XCTAssertLessThan(
      train.arenaBytes!, stats.naiveBytes / 2, "reuse halves the MLP's memory at least")
    XCTAssertEqual(planned.program("ema")?.arenaBytes, 0, "effects only: empty arena")
  }

  func testRandomGraphs() throws {
    var efficiencies: [Double] = []
    for seed in 0..<40 {
      let graph = try schedule(
        try eliminateDeadCode(PassFixtures.randomGraph(seed: UInt64(seed), size: 60)))
      let planned = try assertPlanProperties(graph)
      efficiencies.append(memoryStatistics(planned.programs[0]).efficiency)
    }
    let mean = efficiencies.reduce(0, +) / Double(efficiencies.count)
    XCTAssertGreaterThan(mean, 0.7, "mean planner efficiency \(mean) over random DAGs")
    print("plan_memory: mean efficiency over 40 random DAGs \(mean), min \(efficiencies.min()!)")
  }

  /// A reshape shares its operand's slot even when the operand lives on (a view: nothing is
  /// copied), one into an output too; a reshape of an input, or one computed into a `grad`
  /// buffer, does not alias across regions: it gets its own place.
  func testReshapesShareTheirOperandsSlot() throws {
    let graph = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[16]
        %1 = gelu(%0) : f32[16]
        %2 = reshape(%1) {shape=[4,4]} : f32[4,4]
        %3 = gelu(%1) : f32[16]
        %4 = reshape(%3) {shape=[4,4]} : f32[4,4]
        %5 = add(%2, %4) : f32[4,4]
        %6 = reshape(%0) {shape=[4,4]} : f32[4,4]
        %7 = add(%5, %6) : f32[4,4]
        %8 = parameter {init="zeros", name="grad.w", trainable=0} : f32[4,4]
        %9 = gelu(%1) : f32[16]
        %10 = reshape(%9) {shape=[4,4]} : f32[4,4]
        %11 = assign(%8, %10) : f32[]
        return y=%7, z=%2
      }
      """)
    let planned = try assertPlanProperties(graph)
    let p = planned.programs[0]
    XCTAssertEqual(p.nodes[2].slot, p.nodes[1].slot, "a view though %1 is read later")
    XCTAssertEqual(p.nodes[4].slot, p.nodes[3].slot)
    XCTAssertNotNil(p.nodes[6].slot, "a reshape of an input copies it into the arena")
    XCTAssertEqual(p.nodes[10].slot?.buffer, "grad.w", "computed into its gradient buffer")
    XCTAssertNil(p.nodes[9].slot?.buffer)
    XCTAssertEqual(memoryStatistics(p).viewCount, 2)
    // %1 (with its view, an output), %3 or %9, and %5 or %6: three slots at most at once.
    XCTAssertEqual(p.arenaBytes, 3 * 64)
  }

  func testReplanningIgnoresOldSlots() throws {
    let graph = try schedule(try PassFixtures.mlp())
    let once = try planMemory(graph)
    XCTAssertEqual(try planMemory(once), once)
  }
}
