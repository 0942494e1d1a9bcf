import DinoIR
import XCTest
import _DinoTestSupport

/// The weight-normalised last layer of both DINO samples after `dinoc dump --after fuse`:
/// the student's and the teacher's GEMMs are `linear_weight_norm`, the student's backward one
/// `linear_weight_norm_bwd` (g frozen: norm_last_layer), and no weight W is left.
final class WeightNormFusionTests: XCTestCase {
  private func checkSample(_ file: String, line: Int) throws {
    let sample = DinocRunner.packageRoot.appendingPathComponent("Samples/" + file).path
    let dump = try DinocRunner.run(["dump", sample, "--after", "fuse"])
    XCTAssertEqual(dump.status, 0, dump.stderr)
    let program = try XCTUnwrap(try parseIR(dump.stdout).program("train_step"))
    XCTAssertFalse(
      program.nodes.contains { [.weightNorm, .weightNormBwdV, .weightNormBwdG].contains($0.op) },
      file)
    let forwards = program.nodes.filter { $0.op == .linearWeightNorm }
    XCTAssertEqual(forwards.map(\.scope), ["student.head.last_layer", "teacher.head.last_layer"])
    let backward = try XCTUnwrap(program.nodes.first { $0.op == .linearWeightNormBwd })
    XCTAssertEqual(backward.attrs.int("grad_g"), 0, "norm_last_layer: g is not trained")
    XCTAssertTrue(backward.isBackward)
    for node in forwards + [backward] {
      XCTAssertEqual(node.loc.line, line, "\(file): the head's call in the model")
    }
    let text = dump.stdout.split(separator: "\n").filter { $0.contains("linear_weight_norm") }
    XCTAssertEqual(text.count, 3, file)
    XCTAssertTrue(text.allSatisfy { $0.contains("@ :\(line):") }, "\(text)")
  }

  func testFashionMNISTSampleFusesItsLastLayer() throws {
    try checkSample("fashion_mnist.swift", line: 48)
  }

  func testViTTinySampleFusesItsLastLayer() throws {
    try checkSample("vit_tiny_dino.swift", line: 43)
  }
}
