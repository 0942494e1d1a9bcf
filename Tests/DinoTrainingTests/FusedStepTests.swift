import DinoIR
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// The fused pipeline against `dinoc compile --no-fuse`: one DINO step of
/// Samples/fashion_mnist.swift from the official reference's weights and crops. The fused
/// kernels (layer norm, linear with GELU, attention, the GEMM epilogues) sum and round in the
/// unfused kernels' order, so with the weight-normalised layer left unfused
/// (`--no-fuse-weight-norm`) loss and every weight are bitwise equal, at 1 and at 2 threads.
/// The default also fuses that layer (`linear_weight_norm`, its backward), which scales after
/// the dot products: within the parity tolerance of the unfused step.
final class FusedStepTests: XCTestCase {
  /// Compiles the sample with the reference case's flags, fused (all but the weight-norm
  /// layer, or with `weightNorm` everything) or not.
  private func compile(
    _ defines: [String], fused: Bool, weightNorm: Bool = false, in folder: String
  ) throws -> String {
    let plan = folder + (fused ? (weightNorm ? "/default.bin" : "/fused.bin") : "/unfused.bin")
    let flags = fused ? (weightNorm ? [] : ["--no-fuse-weight-norm"]) : ["--no-fuse"]
    let result = try DinoTool.run(
      "dinoc",
      ["compile", StepParityTests.packageRoot + "/Samples/fashion_mnist.swift", "-o", plan]
        + flags + mergedDefines(defines))
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
    XCTAssertTrue(fusedOps.contains(.linearGeluOnly), "the teacher's fc1 and GELU fuse")
    XCTAssertTrue(fusedOps.contains(.matmulGeluBwd), "GELU's backward is a GEMM epilogue")
    XCTAssertFalse(fusedOps.contains(.gelu) || fusedOps.contains(.geluBwd))
    try StepParityTests.assertSameStepBitwise(fusedPlan, as: unfusedPlan, c)
  }

  /// The same case with stochastic depth: the student's later blocks scale their residual
  /// branches by the drop-path mask, which fuses into `linear_residual_scaled`.
  func testFusedStepWithDropPathIsBitwiseTheUnfusedStep() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let defines = c.defines + ["-D", "drop_path=0.5"]
    let fusedPlan = try compile(defines, fused: true, in: dir)
    let unfusedPlan = try compile(defines, fused: false, in: dir)
    let fusedOps = try PlanReader.read(contentsOf: fusedPlan).program("train_step")!.nodes.map(\.op)
    XCTAssertTrue(fusedOps.contains(.linearResidualScaled), "drop path fuses into the epilogue")
    try StepParityTests.assertSameStepBitwise(fusedPlan, as: unfusedPlan, c)
  }

  /// The default pipeline, weight-normalised layer fused too, against the unfused step on
  /// the reference cases (frozen last layer, trained, trained with g): loss within 2e-6
  /// relative, every buffer within the parity tolerance (`StepParityTests.tolerance`, the
  /// unfused step standing for the official one), at 1 and 2 threads.
  func testDefaultStepIsTheUnfusedStepWithinTolerance() throws {
    for name in StepParityTests.cases {
      let c = try StepParityTests.load(name)
      let dir = try temporaryDirectory()
      let plan = try compile(c.defines, fused: true, weightNorm: true, in: dir)
      let unfusedPlan = try compile(c.defines, fused: false, in: dir)
      let ops = try PlanReader.read(contentsOf: plan).program("train_step")!.nodes.map(\.op)
      XCTAssertEqual(ops.filter { $0 == .linearWeightNorm }.count, 2, "student and teacher")
      XCTAssertEqual(ops.filter { $0 == .linearWeightNormBwd }.count, 1, name)
      XCTAssertFalse(ops.contains(.weightNorm) || ops.contains(.weightNormBwdV), name)
      for threads in [1, 2] {
        let (expectedLoss, expected) = try StepParityTests.oneStep(unfusedPlan, c, threads: threads)
        let trainer = try DINOTrainer(plan: plan, threads: threads)
        try trainer.loadWeights(c.initial)
        try trainer.setCrops(c.crops)
        let loss = try trainer.step(c.scalars)
        XCTAssertEqual(loss, expectedLoss, accuracy: 2e-6 * abs(expectedLoss), "\(name): loss")
        var table = ParityTable()
        var studentTolerance: [String: [Double]] = [:]
        for student in trainer.studentBuffers {
          let (tolerance, sensitive) = try StepParityTests.tolerance(
            student, trainer: trainer, expected: expected[student]!, c: c)
          studentTolerance[student] = tolerance
          table.add(
            StepParityTests.group(of: student), student,
            got: Array(try trainer.runtime.buffer(student)), expected: expected[student]!,
            tolerance: tolerance, sensitive: sensitive)
        }
        for teacher in trainer.teacherBuffers {
          let inherited = studentTolerance["student" + teacher.dropFirst("teacher".count)]!
          let tolerance = zip(inherited, expected[teacher]!).map {
            (1 - c.momentum) * $0 + StepParityTests.ulps(4, $1)
          }
          table.add(
            "teacher", teacher, got: Array(try trainer.runtime.buffer(teacher)),
            expected: expected[teacher]!, tolerance: tolerance)
        }
        let center = expected["center"]!
        table.add(
          "center", "center", got: Array(try trainer.runtime.buffer("center")), expected: center,
          tolerance: center.map { 1e-7 + 2e-6 * abs(Double($0)) })
        for failure in table.failures.prefix(10) {
          XCTFail("\(name), \(threads) threads: \(failure)")
        }
      }
    }
  }
}
