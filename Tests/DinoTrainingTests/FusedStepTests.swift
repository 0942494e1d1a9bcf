import DinoIR
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// The fused pipeline (the default) against `dinoc compile --no-fuse`: one DINO step of
/// Samples/fashion_mnist.swift from the official reference's weights and crops. The fused
/// kernels (layer norm, linear with GELU, attention) sum and round in the unfused kernels'
/// order, so loss and every weight are bitwise equal, at 1 and at 2 threads.
final class FusedStepTests: XCTestCase {
  /// Compiles the sample with the reference case's flags, fused or not.
  private func compile(_ defines: [String], fused: Bool, in folder: String) throws -> String {
    let plan = folder + (fused ? "/fused.bin" : "/unfused.bin")
    let result = try DinoTool.run(
      "dinoc",
      ["compile", StepParityTests.packageRoot + "/Samples/fashion_mnist.swift", "-o", plan]
        + (fused ? [] : ["--no-fuse"]) + mergedDefines(defines))
    guard result.status == 0 else {
      throw DinoTool.Failure("dinoc compile failed:\n\(result.stderr)")
    }
    return plan
  }

  func testFusedStepIsBitwiseTheUnfusedStep() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let fusedPlan = try compile(c.defines, fused: true, in: dir)
    let unfusedPlan = try compile(c.defines, fused: false, in: dir)
    let fusedOps = try PlanReader.read(contentsOf: fusedPlan).program("train_step")!.nodes.map(\.op)
    let unfusedOps = try PlanReader.read(contentsOf: unfusedPlan).program("train_step")!.nodes.map(
      \.op)
    let fusedCount = fusedOps.filter { $0 == .layerNormGrad }.count
    XCTAssertGreaterThan(fusedCount, 0)
    XCTAssertEqual(fusedCount, unfusedOps.filter { $0 == .layerNormBwd }.count, "every one fuses")
    XCTAssertFalse(fusedOps.contains(.layerNormBwd))
    XCTAssertTrue(fusedOps.contains(.linearGelu), "the MLPs' fc1 and GELU fuse")
    XCTAssertTrue(fusedOps.contains(.attentionBwd), "the attentions and their backward fuse")
    XCTAssertFalse(fusedOps.contains(.softmaxBwd), "no unfused attention backward is left")
    XCTAssertFalse(unfusedOps.contains(.layerNormGrad))
    try StepParityTests.assertSameStepBitwise(fusedPlan, as: unfusedPlan, c)
  }
}
