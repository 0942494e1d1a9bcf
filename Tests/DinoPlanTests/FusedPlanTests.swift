import DinoIR
import DinoPasses
import DinoPlan
import XCTest

/// plan.bin carries what fusion adds: ops with several results (`result` nodes) and the
/// absorbed locations of fused nodes.
final class FusedPlanTests: XCTestCase {
  static let text = """
    #dino-ir v1 stage=fuse
    file "model.swift"

    program @train_step {
      %0 = input {name="x"} : f32[5,9]  @ :3:9
      %1 = input {name="dy"} : f32[5,9]  @ :4:10
      scope student.norm
      %2 = parameter {init="ones", name="student.norm.weight", trainable=1} : f32[9]  @ :7:14
      %3 = parameter {init="zeros", name="student.norm.bias", trainable=1} : f32[9]  @ :7:14
      %4 = layer_norm_train(%0, %2, %3) {eps=1e-06} : f32[5,9]  @ :12:13
      %5 = result(%4) {index=1} : f32[5,2]  @ :12:13
      %6 = layer_norm_grad(%1, %0, %5, %2) : f32[5,9]  @ :12:13 + ~:13:9 + "Layers.swift":20:5 bw
      %7 = result(%6) {index=1} : f32[9]  @ :12:13 bw
      %8 = result(%6) {index=2} : f32[9]  @ :12:13 bw
      return y=%4, dx=%6, d_norm_weight=%7, d_norm_bias=%8
    }
    """

  func testAbsorbedLocationsAndResultsRoundTrip() throws {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "fused.ir"))
    let decoded = try PlanReader.decode(try PlanWriter.encode(graph))
    XCTAssertEqual(decoded.programs, graph.programs)
    let grad = try XCTUnwrap(decoded.programs[0].nodes.first { $0.op == .layerNormGrad })
    XCTAssertEqual(
      grad.absorbed,
      [
        SourceLoc(file: "model.swift", line: 13, column: 9, inferred: true),
        SourceLoc(file: "Layers.swift", line: 20, column: 5),
      ])
    XCTAssertEqual(grad.locations.count, 3)
    let program = decoded.programs[0]
    let interval = Liveness(program).intervals
    for (i, node) in program.nodes.enumerated() where node.op == .result {
      XCTAssertEqual(interval[i]?.start, node.operands[0].index, "written by its producer")
    }
  }
}
