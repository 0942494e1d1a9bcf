import DinoIR
import DinoPasses
import XCTest

/// The scheduler: topological, same computation, effects ordered, peak never worse.
final class ScheduleTests: XCTestCase {
  func testGreedyFinishesOneBranchBeforeStartingAnother() throws {
    let graph = PassFixtures.tagged(
      try parseIR(
        """
        #dino-ir v1 stage=t
        program @p {
          %0 = input {name="x"} : f32[64]
          %1 = broadcast_to(%0) {shape=[16,64]} : f32[16,64]
          %2 = broadcast_to(%0) {shape=[16,64]} : f32[16,64]
          %3 = broadcast_to(%0) {shape=[16,64]} : f32[16,64]
          %4 = reduce_sum(%1) {axis=0, keepdims=0} : f32[64]
          %5 = reduce_sum(%2) {axis=0, keepdims=0} : f32[64]
          %6 = reduce_sum(%3) {axis=0, keepdims=0} : f32[64]
          %7 = add(%4, %5) : f32[64]
          %8 = add(%7, %6) : f32[64]
          return y=%8
        }
        """))
    let before = liveLowerBound(graph.programs[0])
    let scheduled = try schedule(graph)
    XCTAssertEqual(scheduled.stage, "schedule")
    let p = scheduled.programs[0]
    assertSameComputation(graph.programs[0], p)
    XCTAssertEqual(before, 3 * 4096 + 256, "three 4 KiB temporaries live at once")
    XCTAssertEqual(liveLowerBound(p), 4096 + 2 * 256, "one temporary at a time")
    XCTAssertEqual(
      p.nodes.map { $0.loc.line - 1 }, [0, 1, 4, 2, 5, 7, 3, 6, 8],
      "each broadcast is reduced at once")
  }

  func testEffectsStayBetweenTheirReadersAndLaterReaders() throws {
    // %3 reads w before the assign; %5 reads w after it and frees a big value: the greedy
    // scheduler would like to run it first, but it must stay after the assign.
    let graph = PassFixtures.tagged(
      try parseIR(
        """
        #dino-ir v1 stage=t
        program @p {
          %0 = parameter {init="zeros", name="student.w", trainable=1} : f32[64]
          %1 = input {name="x"} : f32[64]
          %2 = broadcast_to(%1) {shape=[64,64]} : f32[64,64]
          %3 = mul(%1, %0) : f32[64]
          %4 = assign(%0, %3) : f32[]
          %5 = parameter {init="zeros", name="student.w", trainable=1} : f32[64]
          %6 = sum_to(%2) {shape=[64]} : f32[64]
          %7 = mul(%6, %5) : f32[64]
          return y=%7
        }
        """))
    let p = try schedule(graph).programs[0]
    assertSameComputation(graph.programs[0], p)
    let position = Dictionary(
      uniqueKeysWithValues: p.nodes.enumerated().map { ($1.loc.line - 1, $0) })
    XCTAssertLessThan(position[3]!, position[4]!, "the read before the assign stays before it")
    XCTAssertLessThan(position[4]!, position[7]!, "the read after the assign stays after it")
  }

  func testAdamWRunsAfterEveryReaderOfItsParameter() throws {
    let graph = PassFixtures.tagged(try PassFixtures.mlp())
    let scheduled = try schedule(graph)
    try Verifier.verify(scheduled)
    for (original, p) in zip(graph.programs, scheduled.programs) {
      assertSameComputation(original, p)
      XCTAssertLessThanOrEqual(liveLowerBound(p), liveLowerBound(original), "@\(p.name)")
    }
  }

  func testRandomGraphsKeepTheirComputationAndNeverGetWorse() throws {
    var improved = 0
    for seed in 100..<160 {
      let graph = PassFixtures.tagged(PassFixtures.randomGraph(seed: UInt64(seed), size: 70))
      try Verifier.verify(graph)
      let scheduled = try schedule(graph)
      try Verifier.verify(scheduled)
      assertSameComputation(graph.programs[0], scheduled.programs[0])
      let before = liveLowerBound(graph.programs[0]), after = liveLowerBound(scheduled.programs[0])
      XCTAssertLessThanOrEqual(after, before, "seed \(seed)")
      if after < before { improved += 1 }
    }
    XCTAssertGreaterThan(improved, 10, "the greedy order helps on random DAGs")
  }

  func testScheduleDropsStalePlans() throws {
    let planned = try planMemory(try schedule(try PassFixtures.mlp()))
    let again = try schedule(planned)
    XCTAssertTrue(
      again.programs.allSatisfy { $0.arenaBytes == nil && $0.nodes.allSatisfy { $0.slot == nil } })
  }

  func testBrokenOperandIsAnErrorNotATrap() {
    var program = Program(name: "p")
    program.append(Node(.gelu, [ValueID(3)], type: TensorType(.f32, [2])))
    XCTAssertThrowsError(try schedule(Graph(programs: [program]))) {
      XCTAssertEqual(
        "\($0)", "error: schedule: operand %3 of %0 is not defined before it\nnote: in %0 of @p")
    }
  }
}
