import DinoIR
import DinoPasses
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// The teacher statistics in the float32 runtime: they leave the loss and every update bit
/// for bit as a plan without them computes, and they agree with the Double evaluation of
/// the same graph.
final class TeacherStatisticsRuntimeTests: XCTestCase {
  static let statistics: Set = ["teacher_entropy", "teacher_mean_entropy", "center_norm"]

  /// The sample's captured graph (`dinoc dump --after verify`) for the reference case.
  func capturedGraph(_ c: StepParityTests.Case) throws -> Graph {
    let result = try DinoTool.run(
      "dinoc",
      ["dump", StepParityTests.packageRoot + "/Samples/fashion_mnist.swift", "--after", "verify"]
        + c.defines)
    XCTAssertEqual(result.status, 0, result.stderr)
    return try parseIR(result.stdout, fileName: "fashion_mnist.ir")
  }

  /// A trainer for `graph` after the whole pipeline, with the case's weights and crops.
  func trainer(_ graph: Graph, _ c: StepParityTests.Case) throws -> DINOTrainer {
    let trainer = try DINOTrainer(graph: try Pipeline.run(graph))
    try trainer.loadWeights(c.initial)
    try trainer.setCrops(c.crops)
    return trainer
  }

  func testStatisticsChangeNoLossAndNoUpdateBitwise() throws {
    for name in ["step_epoch0", "step_epoch1"] {
      let c = try StepParityTests.load(name)
      let graph = try capturedGraph(c)
      var bare = graph
      let index = try XCTUnwrap(bare.programIndex("train_step"))
      bare.programs[index].outputs.removeAll { Self.statistics.contains($0.name) }
      let with = try trainer(graph, c)
      let without = try trainer(bare, c)
      XCTAssertEqual(
        Set(try with.runtime.outputs(of: "train_step").map(\.name)).intersection(
          Self.statistics), Self.statistics)
      XCTAssertTrue(
        Set(try without.runtime.outputs(of: "train_step").map(\.name)).isDisjoint(
          with: Self.statistics))
      for _ in 0..<2 {
        let a = try with.step(c.scalars)
        let b = try without.step(c.scalars)
        XCTAssertEqual(a.bitPattern, b.bitPattern, name)
      }
      XCTAssertEqual(with.runtime.layout.regions, without.runtime.layout.regions)
      for region in with.runtime.layout.regions {
        XCTAssertTrue(
          Array(try with.runtime.region(region)) == Array(try without.runtime.region(region)),
          "\(name): region \(region) differs")
      }
    }
  }

  func testFloat32StatisticsAgreeWithTheDoubleEvaluation() throws {
    let c = try StepParityTests.load("step_epoch1")
    let graph = try capturedGraph(c)
    let trainer = try trainer(graph, c)
    _ = try trainer.trainStep(c.scalars)

    let program = try XCTUnwrap(graph.program("train_step"))
    var inputs: [String: ReferenceTensor] = [:]
    for (key, tensor) in c.crops.tensors {
      inputs[key] = ReferenceTensor(shape: tensor.shape, data: tensor.floats.map(Double.init))
    }
    inputs["teacher_temp"] = ReferenceTensor(scalar: Double(Float(c.teacherTemp)))
    inputs["seed"] = ReferenceTensor(scalar: 0)
    var buffers: [String: ReferenceTensor] = [:]
    for (key, tensor) in c.initial.tensors {
      buffers[key] = ReferenceTensor(shape: tensor.shape, data: tensor.floats.map(Double.init))
    }
    let values = try ReferenceInterpreter.values(program, inputs: inputs, buffers: &buffers)
    for key in Self.statistics {
      let id = try XCTUnwrap(program.outputs.first { $0.name == key }?.value.index)
      let exact = try XCTUnwrap(values[id].scalar)
      let single = Double(try trainer.runtime.output(key, program: "train_step")[0])
      XCTAssertEqual(single, exact, accuracy: 1e-4 * max(1, abs(exact)), key)
    }
  }
}
