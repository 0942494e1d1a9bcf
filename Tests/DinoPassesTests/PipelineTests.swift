import DinoIR
import DinoPasses
import XCTest

/// The pipeline: pass order, stop-after, checks between passes.
final class PipelineTests: XCTestCase {
  func testRunsEveryPassAndChecksTheResult() throws {
    var seen: [String] = []
    let result = try Pipeline.run(try PassFixtures.mlp()) { name, graph in
      seen.append(name)
      XCTAssertEqual(graph.stage, name, "each pass sets the stage to its name")
    }
    XCTAssertEqual(seen, Pipeline.passNames)
    XCTAssertEqual(
      Pipeline.passNames,
      [
        "verify", "narrow", "autodiff", "optimizer", "ema", "dead_code", "fuse", "schedule", "flatten",
        "remat", "plan_memory",
      ])
    XCTAssertEqual(result.stage, "plan_memory")
    for program in result.programs { XCTAssertEqual(memoryProblems(program), []) }
  }

  func testPlannedInputIsPlannedAgain() throws {
    let once = try Pipeline.run(try PassFixtures.mlp())
    XCTAssertEqual(
      try Pipeline.run(once).programs.map(\.arenaBytes), once.programs.map(\.arenaBytes))
  }

  func testStopAfter() throws {
    let result = try Pipeline.run(try PassFixtures.mlp(), stopAfter: "schedule")
    XCTAssertEqual(result.stage, "schedule")
    XCTAssertTrue(result.programs.allSatisfy { $0.arenaBytes == nil })
  }

  func testUnknownPassListsTheNames() {
    XCTAssertThrowsError(try Pipeline.run(Graph(), stopAfter: "inline")) {
      XCTAssertEqual(
        "\($0)",
        "error: unknown pass 'inline' (passes: verify, narrow, autodiff, optimizer, ema, dead_code, fuse, schedule, flatten, remat, plan_memory)"
      )
    }
  }

  func testInvalidInputIsReportedAsSuch() throws {
    var program = Program(name: "p")
    program.append(Node(.gelu, [ValueID(5)], type: TensorType(.f32, [2])))
    XCTAssertThrowsError(try Pipeline.run(Graph(programs: [program]))) {
      XCTAssertEqual(
        "\($0)",
        "error: gelu: operand %5 is not defined before %0\nnote: in %0 of @p\nnote: in the pipeline's input"
      )
    }
  }

  func testCheckRefusesAnUnsoundPlan() throws {
    var graph = try Pipeline.run(try PassFixtures.mlp())
    let p = try XCTUnwrap(graph.programIndex("features"))
    // The first op that may not run in place written over its operand in the arena.
    let nodes = graph.programs[p].nodes
    let (i, x) = try XCTUnwrap(
      nodes.indices.lazy.compactMap { i -> (Int, Int)? in
        guard !nodes[i].op.allowsInPlace, nodes[i].slot != nil else { return nil }
        return nodes[i].operands.first { nodes[$0.index].slot != nil }.map { (i, $0.index) }
      }.first)
    graph.programs[p].nodes[i].slot = nodes[x].slot
    XCTAssertThrowsError(try Pipeline.check(graph, after: "plan_memory")) {
      let text = "\($0)"
      XCTAssertTrue(text.hasPrefix("error: "), text)
      XCTAssertTrue(text.hasSuffix("note: after pass plan_memory"), text)
    }
  }
}
