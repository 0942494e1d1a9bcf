import DinoIR
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dinoc compile --memory-limit` (the `remat` pass) against the default plan, and the
/// default plan (the cheap recomputes) against `--no-recompute`: one DINO step
/// of Samples/fashion_mnist.swift from the official reference's weights and crops. The
/// recomputing nodes run the same deterministic kernels on the same values as the nodes
/// they copy (`gelu` and `layer_norm` round as the fused `linear_gelu` and
/// `layer_norm_train` do), so loss and every buffer are bitwise equal.
final class RecomputeStepTests: XCTestCase {
  /// Runs `dinoc compile` on the sample with the reference case's flags and `extra`.
  private func compile(_ defines: [String], _ extra: [String], to plan: String) throws
    -> (status: Int32, stdout: String, stderr: String)
  {
    try DinoTool.run(
      "dinoc",
      ["compile", StepParityTests.packageRoot + "/Samples/fashion_mnist.swift", "-o", plan]
        + extra + mergedDefines(defines))
  }

  func testLimitedPlanFitsAndComputesTheStepBitwise() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let defaultPlan = dir + "/default.bin", limitedPlan = dir + "/limited.bin"
    let plain = try compile(c.defines, [], to: defaultPlan)
    XCTAssertEqual(plain.status, 0, plain.stderr)
    let full = PlanMemoryNeeds(try PlanReader.read(contentsOf: defaultPlan))
    // A limit halfway between the smallest plan that fits (named by the refusal of a
    // 1-byte limit) and the default plan's size: recompute is needed and possible.
    let refused = try compile(c.defines, ["--memory-limit", "1"], to: limitedPlan)
    let needed = refused.stderr.firstMatch(of: /at least [^(]*\((\d+) bytes\)/)
    let smallest = try XCTUnwrap(needed.flatMap { Int($0.1) }, refused.stderr)
    XCTAssertLessThan(smallest, full.total)
    let limit = smallest + (full.total - smallest) / 2
    let limited = try compile(c.defines, ["--memory-limit", "\(limit)"], to: limitedPlan)
    XCTAssertEqual(limited.status, 0, limited.stderr)
    XCTAssertTrue(limited.stdout.contains("recompute: "), limited.stdout)
    let graph = try PlanReader.read(contentsOf: limitedPlan)
    XCTAssertLessThanOrEqual(PlanMemoryNeeds(graph).total, limit)
    XCTAssertNotNil(graph.metadata[recomputeMetadataKey])
    XCTAssertNotNil(recomputeSummary(graph))
    // The fused attention keeps no softmax rows, so this model's limits recompute none
    // (RematerializeTests recomputes attentions explicitly and checks the step).
    try StepParityTests.assertSameStepBitwise(limitedPlan, as: defaultPlan, c)
  }

  /// The default plan recomputes the cheapest values (within `defaultRecomputeBudget` of the
  /// step's FLOPs) in a smaller arena, and computes the `--no-recompute` plan's step
  /// bitwise, with 1 and 2 threads.
  func testDefaultPlanRecomputesAndComputesTheNoRecomputeStepBitwise() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let defaultPlan = dir + "/default.bin", nonePlan = dir + "/none.bin"
    let lean = try compile(c.defines, [], to: defaultPlan)
    XCTAssertEqual(lean.status, 0, lean.stderr)
    XCTAssertTrue(lean.stdout.contains("recompute: "), lean.stdout)
    let none = try compile(c.defines, ["--no-recompute"], to: nonePlan)
    XCTAssertEqual(none.status, 0, none.stderr)
    XCTAssertFalse(none.stdout.contains("recompute: "), none.stdout)
    let leanGraph = try PlanReader.read(contentsOf: defaultPlan)
    let noneGraph = try PlanReader.read(contentsOf: nonePlan)
    XCTAssertNil(noneGraph.metadata[recomputeMetadataKey])
    XCTAssertLessThan(PlanMemoryNeeds(leanGraph).arenas, PlanMemoryNeeds(noneGraph).arenas)
    let summary = try XCTUnwrap(recomputeSummary(leanGraph))
    XCTAssertTrue(summary.contains("% of the step's"), summary)
    try StepParityTests.assertSameStepBitwise(defaultPlan, as: nonePlan, c)
  }

  func testImpossibleLimitIsRefusedWithTheSmallestSizeThatFits() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let plan = dir + "/plan.bin"
    let refused = try compile(c.defines, ["--memory-limit", "1M"], to: plan)
    XCTAssertNotEqual(refused.status, 0)
    let lines = refused.stderr.split(separator: "\n")
    XCTAssertEqual(lines.count, 1, refused.stderr)
    XCTAssertTrue(refused.stderr.hasPrefix("error: --memory-limit 1.0MiB"), refused.stderr)
    XCTAssertTrue(refused.stderr.contains("raise --memory-limit"), refused.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: plan), "nothing is written")
    // The smallest size it names fits.
    let smallest = try XCTUnwrap(
      refused.stderr.split(separator: "(").dropFirst(2).first?.split(separator: " ").first)
    let fits = try compile(c.defines, ["--memory-limit", String(smallest)], to: plan)
    XCTAssertEqual(fits.status, 0, fits.stderr)
    XCTAssertLessThanOrEqual(
      PlanMemoryNeeds(try PlanReader.read(contentsOf: plan)).total, Int(smallest) ?? 0)
  }

  /// Both samples compile under a limit (the verifier runs after every pass and the memory
  /// proof after the last) and `dinoc dump --memory` reports the recompute.
  func testSamplesCompileUnderALimitAndReportTheRecompute() throws {
    let dir = try temporaryDirectory()
    let samples = [
      ("fashion_mnist", ["-D", "batch=16"]),
      ("vit_tiny_dino", ["-D", "batch=2", "-D", "depth=2", "-D", "out_dim=1024"]),
    ]
    for (sample, defines) in samples {
      let source = StepParityTests.packageRoot + "/Samples/\(sample).swift"
      let plan = dir + "/\(sample).bin"
      let plain = try DinoTool.run("dinoc", ["compile", source, "-o", plan] + defines)
      XCTAssertEqual(plain.status, 0, plain.stderr)
      let full = PlanMemoryNeeds(try PlanReader.read(contentsOf: plan))
      // 25 % off the arena (40 % before the fused attention stopped keeping its softmax
      // rows, 30 % before `narrow` cut the last block to the class token: each shrank the
      // default arena more than the smallest one, whose cut is now 29 % on vit_tiny_dino).
      let limit = full.total - full.arenas / 4
      let limited = try DinoTool.run(
        "dinoc", ["compile", source, "-o", plan, "--memory-limit", "\(limit)"] + defines)
      XCTAssertEqual(limited.status, 0, "\(sample): \(limited.stderr)")
      XCTAssertLessThanOrEqual(PlanMemoryNeeds(try PlanReader.read(contentsOf: plan)).total, limit)
      let dump = try DinoTool.run("dinoc", ["dump", plan, "--memory"])
      XCTAssertEqual(dump.status, 0, dump.stderr)
      XCTAssertTrue(dump.stdout.contains("\nrecompute: "), sample)
      XCTAssertTrue(dump.stdout.contains("% of the step's"), sample)
    }
  }

  func testMalformedLimitIsOneLine() throws {
    let dir = try temporaryDirectory()
    let result = try compile([], ["--memory-limit", "7O0M"], to: dir + "/plan.bin")
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.stderr,
      "error: --memory-limit: '7O0M' is not a size: give bytes or a positive number with K, "
        + "M, G or T (binary units, optionally followed by iB or B), e.g. 700M, 1.5G, 800MiB\n")
  }
}
