import DinoIR
import Foundation
import XCTest
import _DinoTestSupport

/// Finite differences (Double) against `differentiate` on the real DINO graph that
/// Samples/fashion_mnist.swift emits: a tiny ViT + DINO head + DINO loss, with both
/// resolutions (global and local crops), centering and a trainable weight-norm magnitude.
final class DinoGradientTests: XCTestCase {
  func testWholeTinyDINOLossGradientMatchesFiniteDifferences() throws {
    let sample = DinocRunner.packageRoot.appendingPathComponent("Samples/fashion_mnist.swift")
    let defines = [
      "dim=8", "depth=1", "heads=2", "patch=4", "channels=1", "global_size=8", "local_size=4",
      "local_crops=1", "batch=1", "out_dim=8", "hidden_dim=8", "bottleneck_dim=4",
      "drop_path=0", "norm_last_layer=0",
    ].flatMap { ["-D", $0] }
    let dump = try DinocRunner.run(["dump", sample.path, "--after", "autodiff"] + defines)
    XCTAssertEqual(dump.status, 0, dump.stderr)
    let graph = try parseIR(dump.stdout)
    let program = try XCTUnwrap(graph.program("train_step"))

    var buffers = try ReferenceInterpreter.initialBuffers(for: graph, seed: 5)
    buffers["center"] = ReferenceTensor.random(shape: [1, 8], seed: 9, in: -0.2...0.2)
    var inputs: [String: ReferenceTensor] = [
      "teacher_temp": ReferenceTensor(scalar: 0.07), "seed": ReferenceTensor(scalar: 3),
    ]
    for node in program.nodes where node.op == .input {
      let name = node.attrs.string("name")
      if name.hasPrefix("crop") {
        inputs[name] = ReferenceTensor.randomNormal(
          shape: node.type.shape, seed: UInt64(100 + inputs.count))
      }
    }
    let outputs = try ReferenceInterpreter.run(program, inputs: inputs, buffers: &buffers)
    buffers = try ReferenceInterpreter.initialBuffers(for: graph, seed: 5)
    buffers["center"] = ReferenceTensor.random(shape: [1, 8], seed: 9, in: -0.2...0.2)

    let trainable = graph.buffers().filter { $0.region == "student" && $0.trainable }.map(\.name)
    XCTAssertTrue(trainable.contains("student.head.last_layer.weight_g"))
    XCTAssertEqual(
      Set(outputs.keys.filter { $0.hasPrefix("grad.") }), Set(trainable.map { "grad.\($0)" }),
      "every trainable student parameter gets a gradient, nothing else does")
    let numeric = try GradientCheck.numericGradient(
      program: program, output: "loss", wrt: trainable, inputs: inputs, buffers: buffers,
      eps: 1e-7, stencil: .fourPoint)
    var worst = (name: "", relError: 0.0, cosine: 1.0)
    for name in trainable {
      let (relError, cosine) = GradientCheck.compare(
        try XCTUnwrap(outputs["grad.\(name)"]), try XCTUnwrap(numeric[name]))
      if relError > worst.relError { worst = (name, relError, cosine) }
      XCTAssertLessThan(relError, 1e-6, name)
      XCTAssertGreaterThan(cosine, 1 - 1e-9, name)
    }
    print(
      "DINO graph gradient check: worst \(worst.name) rel \(worst.relError) cos \(worst.cosine)")
  }
}
