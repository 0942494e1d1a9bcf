import DinoIR
import DinoRuntime
import XCTest
import _DinoTestSupport

/// `Runtime.profile`: one timing per instruction, and the same results as `run`.
final class ProfileTests: XCTestCase {
  /// y = softmax(gelu(x·wᵀ + b)), with its sum as a second output.
  func graph() throws -> Graph {
    var p = ProgramBuilder(name: "forward")
    let x = p.input("x", [5, 8])
    let w = p.parameter("student.w", [6, 8], init: "normal(0.5)")
    let b = p.parameter("student.b", [6], init: "uniform(-1,1)")
    let y = try p.op(.softmax, try p.op(.gelu, try p.op(.linear, x, w, b)))
    p.output("y", y)
    p.output("total", try p.op(.reduceSum, y, attrs: ["axis": .int(1), "keepdims": .int(0)]))
    return planEachValueApart(Graph(programs: [p.program]))
  }

  func testProfileMatchesRunAndTimesEveryInstruction() throws {
    for threads in [1, 2] {
      let runtime = try Runtime(graph: try graph(), threads: threads)
      try runtime.initializeParameters(seed: 3)
      try runtime.setInput("x", randomFloats(40, seed: 9))
      try runtime.run("forward")
      let expected = try runtime.output("y")
      let timings = try runtime.profile("forward")
      XCTAssertEqual(timings.map(\.op), [.linear, .gelu, .softmax, .reduceSum])
      XCTAssertEqual(timings.map(\.instruction), [0, 1, 2, 3])
      XCTAssertTrue(timings.allSatisfy { $0.seconds >= 0 })
      XCTAssertEqual(try runtime.output("y").map(\.bitPattern), expected.map(\.bitPattern))
    }
  }

  func testProfileRefusesUnsetInputs() throws {
    let runtime = try Runtime(graph: try graph())
    XCTAssertThrowsError(try runtime.profile("forward")) { error in
      XCTAssertTrue("\(error)".contains("'x'"), "\(error)")
    }
  }
}
