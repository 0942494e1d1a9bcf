import DinoIR
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// The fused pipeline (the default) against `dinoc compile --no-fuse`: one DINO step of
/// Samples/fashion_mnist.swift from the official reference's weights and crops, at 1 and at
/// 2 threads. The fused layer norms, linear with GELU, GEMM epilogues and element-wise chains
/// sum and round in the unfused kernels' order (bitwise: FusedKernelTests and the pass
/// tests); the fused attention sums in its own order and recomputes the softmax rows from
/// their log-sum-exp, so the step agrees within the tolerances of the parity tests against official DINO; so
/// does the weight-normalised last layer, which `linear_weight_norm` scales after the dot
/// products.
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

  func testFusedStepMatchesTheUnfusedStep() throws {
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
    // The last block's attention, cut by `narrow` to the class token's query, fuses too.
    let fusedNodes = try PlanReader.read(contentsOf: fusedPlan).program("train_step")!.nodes
    XCTAssertTrue(
      fusedNodes.contains { $0.op == .attentionBwd && $0.attrs.int("queries") == 1 },
      "the class token's attention backward fuses")
    XCTAssertFalse(unfusedOps.contains(.layerNormGrad))
    XCTAssertTrue(fusedOps.contains(.linearGeluOnly), "the teacher's fc1 and GELU fuse")
    XCTAssertTrue(fusedOps.contains(.matmulGeluBwd), "GELU's backward is a GEMM epilogue")
    // No GELU is left to the unfused ops; the recompute pass may copy one into the backward
    // (the fc2 weight gradient's input, rebuilt from the kept pre-activation).
    XCTAssertFalse(fusedNodes.contains { $0.op == .gelu && !$0.isBackward })
    XCTAssertFalse(fusedOps.contains(.geluBwd))
    XCTAssertTrue(fusedOps.contains(.eltwiseChain), "the loss's element-wise chains fuse")
    try StepParityTests.assertSameStepWithinParityTolerance(fusedPlan, as: unfusedPlan, c)
  }

  /// The same case with stochastic depth: the student's later blocks scale their residual
  /// branches by the drop-path mask, which fuses into `linear_residual_scaled`.
  func testFusedStepWithDropPathMatchesTheUnfusedStep() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let defines = c.defines + ["-D", "drop_path=0.5"]
    let fusedPlan = try compile(defines, fused: true, in: dir)
    let unfusedPlan = try compile(defines, fused: false, in: dir)
    let fusedOps = try PlanReader.read(contentsOf: fusedPlan).program("train_step")!.nodes.map(\.op)
    XCTAssertTrue(fusedOps.contains(.linearResidualScaled), "drop path fuses into the epilogue")
    try StepParityTests.assertSameStepWithinParityTolerance(fusedPlan, as: unfusedPlan, c)
  }

  /// The weight-normalised layer on every reference case (frozen last layer, trained, trained
  /// with g): fused forward and backward, no weight_norm left, the step within tolerance.
  func testWeightNormFusesOnEveryReferenceCase() throws {
    for name in StepParityTests.cases {
      let c = try StepParityTests.load(name)
      let dir = try temporaryDirectory()
      let plan = try compile(c.defines, fused: true, in: dir)
      let unfusedPlan = try compile(c.defines, fused: false, in: dir)
      let ops = try PlanReader.read(contentsOf: plan).program("train_step")!.nodes.map(\.op)
      XCTAssertEqual(ops.filter { $0 == .linearWeightNorm }.count, 2, "\(name): student, teacher")
      XCTAssertEqual(ops.filter { $0 == .linearWeightNormBwd }.count, 1, name)
      XCTAssertFalse(ops.contains(.weightNorm) || ops.contains(.weightNormBwdV), name)
      try StepParityTests.assertSameStepWithinParityTolerance(plan, as: unfusedPlan, c)
    }
  }
}
