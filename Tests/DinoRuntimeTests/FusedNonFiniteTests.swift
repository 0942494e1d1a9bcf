import DinoIR
import DinoPasses
import DinoRuntime
import XCTest

/// Checked execution of a fused plan: a non-finite value produced by a fused kernel (or
/// found in one of its `result` values) is reported with every location it absorbed.
final class FusedNonFiniteTests: XCTestCase {
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
      %6 = layer_norm_grad(%1, %0, %5, %2) : f32[5,9]  @ :12:13 + :13:9 bw
      %7 = result(%6) {index=1} : f32[9]  @ :12:13 bw
      %8 = result(%6) {index=2} : f32[9]  @ :12:13 bw
      return y=%4, dx=%6, d_norm_weight=%7, d_norm_bias=%8
    }
    """

  func testAnOverflowInAFusedKernelNamesItsAbsorbedLocations() throws {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "fused.ir"))
    let runtime = try Runtime(graph: graph)
    try runtime.setInput("x", (0..<45).map { Float($0 % 7) - 3 }, program: "train_step")
    try runtime.setInput("dy", Array(repeating: 3e38, count: 45), program: "train_step")
    let found = try XCTUnwrap(try runtime.runChecked("train_step"))
    XCTAssertEqual(found.op, "layer_norm_grad")
    XCTAssertEqual(found.absorbed, [SourceLoc(file: "model.swift", line: 13, column: 9)])
    XCTAssertTrue(
      "\(found)".contains("at model.swift:12:13 (fused with model.swift:13:9)"), "\(found)")
  }
}
