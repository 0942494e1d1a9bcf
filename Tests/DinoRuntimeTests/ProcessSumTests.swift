import DinoIR
import DinoRuntime
import XCTest
import _DinoTestSupport

/// `Runtime.sumOverProcesses` without MPI: `all_reduce_sum` is a copy while nothing is
/// registered, calls the registered `ProcessSum` once per run with its operand's values
/// (here a fake world of three processes holding the same values), and is a copy again
/// after `nil` is registered.
final class ProcessSumTests: XCTestCase {
  /// Adds `processes − 1` copies of the values (every fake process holds the same x).
  final class ReplicatedSum: ProcessSum {
    let processes: Float
    var calls = 0
    init(processes: Int) { self.processes = Float(processes) }

    func sumOverProcesses(_ data: UnsafeMutablePointer<Float>, count: Int) {
      for i in 0..<count { data[i] *= processes }
      calls += 1
    }
  }

  func testAllReduceSumCallsTheRegisteredSum() throws {
    var p = ProgramBuilder(name: "sums")
    let x = p.input("x", [2, 3])
    p.output("y", try p.op(.allReduceSum, x))
    p.output("x_after", try p.op(.scale, x, attrs: ["factor": .float(1)]))
    let runtime = try Runtime(graph: planEachValueApart(Graph(programs: [p.program])))
    let values: [Float] = [1.5, -2, 0.25, 3, -0.5, 7]
    try runtime.setInput("x", values)

    try runtime.run("sums")
    XCTAssertEqual(try runtime.output("y"), values, "alone: a copy")

    let sum = ReplicatedSum(processes: 3)
    runtime.sumOverProcesses(with: sum)
    try runtime.run("sums")
    XCTAssertEqual(try runtime.output("y"), values.map { 3 * $0 })
    XCTAssertEqual(try runtime.output("x_after"), values, "the operand stays unchanged")
    XCTAssertEqual(sum.calls, 1)

    runtime.sumOverProcesses(with: nil)
    try runtime.run("sums")
    XCTAssertEqual(try runtime.output("y"), values)
    XCTAssertEqual(sum.calls, 1)
  }
}
