import DinoIR
import DinoPasses
import XCTest

/// Dead-code elimination: keeps outputs, effects, inputs and what they read; renumbers.
final class DeadCodeTests: XCTestCase {
  func testRemovesUnreadNodesAndRemapsOutputs() throws {
    let graph = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[4]
        %1 = input {name="unused"} : f32[4]
        %2 = parameter {init="zeros", name="student.dead", trainable=1} : f32[4]
        %3 = gelu(%2) : f32[4]
        %4 = gelu(%0) : f32[4]
        %5 = parameter {init="zeros", name="center", trainable=0} : f32[4]
        %6 = scale(%4) {factor=2.0} : f32[4]
        %7 = assign(%5, %6) : f32[]
        %8 = softmax(%3) : f32[4]
        %9 = scale(%4) {factor=3.0} : f32[4]
        return y=%9
      }
      """)
    let result = try eliminateDeadCode(graph)
    XCTAssertEqual(result.stage, "dead_code")
    try Verifier.verify(result)
    XCTAssertEqual(
      printIR(result),
      """
      #dino-ir v1 stage=dead_code

      program @p {
        %0 = input {name="x"}       : f32[4]
        %1 = input {name="unused"}  : f32[4]
        %2 = gelu(%0)               : f32[4]
        %3 = parameter {init="zeros", name="center", trainable=0} : f32[4]
        %4 = scale(%2) {factor=2.0} : f32[4]
        %5 = assign(%3, %4)         : f32[]
        %6 = scale(%2) {factor=3.0} : f32[4]
        return y=%6
      }

      """)
  }

  func testRandomGraphs() throws {
    for seed in 200..<240 {
      let graph = PassFixtures.tagged(PassFixtures.randomGraph(seed: UInt64(seed), size: 60))
      let result = try eliminateDeadCode(graph)
      try Verifier.verify(result)
      let p = result.programs[0], original = graph.programs[0]
      // Every kept node is a root or read by a kept node.
      let users = p.users()
      let outputs = Set(p.outputs.map(\.value))
      for (i, node) in p.nodes.enumerated() {
        let root = node.op.isEffect || node.op == .input || outputs.contains(ValueID(i))
        XCTAssertTrue(root || !users[i].isEmpty, "seed \(seed): %\(i) is dead")
        // Same node, operands remapped consistently (the tag is the original index + 1).
        let old = original.nodes[node.loc.line - 1]
        XCTAssertEqual(node.op, old.op)
        XCTAssertEqual(
          node.operands.map { p.nodes[$0.index].loc.line - 1 }, old.operands.map(\.index))
      }
      XCTAssertEqual(
        p.outputs.map { p.nodes[$0.value.index].loc.line - 1 }, original.outputs.map(\.value.index))
      XCTAssertEqual(
        p.nodes.filter { $0.op.isEffect || $0.op == .input }.count,
        original.nodes.filter { $0.op.isEffect || $0.op == .input }.count)
      XCTAssertEqual(try eliminateDeadCode(result).programs, result.programs, "idempotent")
    }
  }
}
