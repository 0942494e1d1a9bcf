import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run train --budget`: durations, the sizing arithmetic, and a real budget run that
/// ends within its budget with every schedule at its end, equal to a run of the chosen
/// length without a pilot.
final class BudgetTests: XCTestCase {
  /// Durations as users write them; anything else is one line.
  func testParsesDurations() throws {
    for (text, seconds) in [
      ("900", 900.0), ("12.5", 12.5), ("90s", 90), ("15m", 900), ("1h", 3600),
      ("1h30m", 5400), ("1h30m15s", 5415), ("2m30s", 150), ("0.5h", 1800),
    ] {
      XCTAssertEqual(try TimeBudget(parsing: text).seconds, seconds, text)
    }
    for text in ["", "0", "-5", "1x", "m", "1m1h", "1h1h", "15 m", "inf", "1.2.3s", "nan"] {
      XCTAssertThrowsError(try TimeBudget(parsing: text), text) { error in
        XCTAssertTrue("\(error)".hasPrefix("--budget '\(text)' is not a duration"), "\(error)")
      }
    }
  }

  /// The iterations fill the budget's target after the elapsed time, one-off costs and
  /// the checkpoints (one per epoch, one per timed interval, one at the end).
  func testSizingArithmetic() {
    XCTAssertEqual(
      BudgetPlan.iterations(
        budget: 100, elapsed: 8.5, secondsPerStep: 0.1, checkpointSeconds: 0,
        oneOff: 0, iterationsPerEpoch: 10, saveMinutes: 0),
      900)  // (98.5 − 8.5) / 0.1
    XCTAssertEqual(
      BudgetPlan.iterations(
        budget: 100, elapsed: 8.5, secondsPerStep: 0.1, checkpointSeconds: 1,
        oneOff: 1, iterationsPerEpoch: 10, saveMinutes: 0),
      440)  // (90 − 1 − 1) / (0.1 + 0.1)
    XCTAssertEqual(
      BudgetPlan.iterations(
        budget: 1000, elapsed: 5, secondsPerStep: 1, checkpointSeconds: 2,
        oneOff: 0, iterationsPerEpoch: 1_000_000, saveMinutes: 1),
      945)  // (985 − 5 − 2 final − 16 timed saves × 2) / (1 + 2e-6)
    XCTAssertEqual(
      BudgetPlan.iterations(
        budget: 10, elapsed: 20, secondsPerStep: 0.1, checkpointSeconds: 0,
        oneOff: 0, iterationsPerEpoch: 10, saveMinutes: 0),
      0)
    XCTAssertEqual(BudgetPlan.trimmedMean([1, 2, 3, 4, 5, 6, 7, 8, 9, 100]), 5)
  }

  /// A run whose steps drift from the pilot's pace is re-sized to end at the target; one
  /// within the tolerance is left alone.
  func testReplanningArithmetic() {
    func replanned(total: Int, step: Int, elapsed: Double, secondsPerStep: Double) -> Int? {
      BudgetPlan.replanned(
        total: total, step: step, elapsed: elapsed, secondsPerStep: secondsPerStep,
        budget: 100, checkpointSeconds: 0, iterationsPerEpoch: 10, saveMinutes: 0)
    }
    // On pace: 900 steps of 0.1 s end at 98.5 s.
    XCTAssertNil(replanned(total: 900, step: 300, elapsed: 38.5, secondsPerStep: 0.1))
    XCTAssertNil(replanned(total: 900, step: 300, elapsed: 38.5, secondsPerStep: 0.102))
    // 25 % slower from step 300: (98.5 − 38.5) / 0.125 = 480 more steps.
    XCTAssertEqual(replanned(total: 900, step: 300, elapsed: 38.5, secondsPerStep: 0.125), 780)
    // Faster: (98.5 − 38.5) / 0.05 = 1200 more.
    XCTAssertEqual(replanned(total: 900, step: 300, elapsed: 38.5, secondsPerStep: 0.05), 1500)
    // Over budget already: the run ends after the next step.
    XCTAssertEqual(replanned(total: 900, step: 300, elapsed: 120, secondsPerStep: 0.1), 301)
  }

  /// The pace is the mean over the last tenth of the budget, at least 50 steps.
  func testPaceIsASlidingMean() throws {
    var pace = StepPace(budget: 1000)
    for i in 1...49 { pace.record(1, endingAt: Double(i)) }
    XCTAssertNil(pace.secondsPerStep)
    pace.record(1, endingAt: 50)
    XCTAssertEqual(try XCTUnwrap(pace.secondsPerStep), 1)
    for i in 1...25 { pace.record(3, endingAt: 50 + 3 * Double(i)) }
    // Window [25, 125]: the 1-s steps ending at 25…50 and the 25 new ones.
    XCTAssertEqual(try XCTUnwrap(pace.secondsPerStep), (26 + 75) / 51)
    for i in 26...200 { pace.record(3, endingAt: 50 + 3 * Double(i)) }
    XCTAssertEqual(try XCTUnwrap(pace.secondsPerStep), 3)  // the last 50 steps: 150 s
  }

  /// A folder, the small plan of `defines` compiled into it and its images.
  private func budgetFixture() throws -> (dir: String, plan: String, images: String) {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(Self.defines, in: dir)
    return (dir, plan, try TrainTests.makeImages(in: dir, perClass: 20))
  }

  /// Options of a 12 s budget run on `images` into `output`, one loader worker.
  private func budgetOptions(images: String, output: String) throws -> TrainingOptions {
    var options = TrainingOptions(data: images)
    options.output = output
    options.budget = try TimeBudget(parsing: "12s")
    options.logEvery = 1000
    options.workers = 1
    return options
  }

  /// A machine that gets 3 times slower halfway: the run re-sizes its schedules, ends within
  /// its budget, and lr, weight decay, momentum and teacher temperature still reach their
  /// ends; the checkpoint records the new length.
  func testBudgetRunFollowsItsPace() throws {
    let (dir, plan, images) = try budgetFixture()
    let graph = try PlanReader.read(contentsOf: plan)
    var options = try budgetOptions(images: images, output: dir + "/budget")
    // The pilot's pace first (a run that keeps its count), then the same budget with each
    // step from a third of the way on three times as long.
    var probe = options
    probe.output = dir + "/probe"
    probe.followsPace = false
    let first = try TrainingRun(graph: graph, options: probe).run { _ in }
    let perStep = 12.0 * BudgetPlan.target / Double(first.totalIterations)
    options.testSlowdown = (first.totalIterations / 3, 2 * perStep)
    let slowed = try TrainingRun(graph: graph, options: options)
    var lines: [String] = []
    let started = Date()
    let summary = try slowed.run { lines.append($0) }
    let seconds = Date().timeIntervalSince(started)
    let chosen = try XCTUnwrap(summary.budget)
    XCTAssertGreaterThanOrEqual(chosen.replans, 1, lines.joined(separator: "\n"))
    XCTAssertTrue(
      lines.contains { $0.hasPrefix("budget: steps now take ") }, lines.joined(separator: "\n"))
    XCTAssertLessThan(chosen.totalIterations, first.totalIterations)
    XCTAssertEqual(summary.endStep, chosen.totalIterations)
    XCTAssertLessThan(seconds, 12 * 1.25, "a 12 s budget took \(seconds) s")
    let last = try XCTUnwrap(summary.lastScalars)
    XCTAssertEqual(last.lr, 1e-6, accuracy: 0.0005 * 4 / 256 * 1e-3)
    XCTAssertEqual(last.weightDecay, 0.4, accuracy: 1e-3)
    XCTAssertEqual(last.momentum, 1, accuracy: 1e-5)
    XCTAssertEqual(last.teacherTemp, 0.06)
    let saved = try SafeTensors.read(contentsOf: dir + "/budget/checkpoint.safetensors")
    XCTAssertEqual(saved.metadata["step"], "\(chosen.totalIterations)")
    XCTAssertEqual(saved.metadata["total_iterations"], "\(chosen.totalIterations)")
  }

  /// A ViT small enough for a test but large enough that steps, not per-epoch overheads,
  /// take the time: 4 epochs of 10 iterations with 1-epoch warm-ups and freeze.
  static let defines = [
    "batch=4", "dim=32", "depth=2", "heads=2", "patch=4", "global_size=16", "local_size=8",
    "local_crops=2", "out_dim=64", "hidden_dim=32", "bottleneck_dim=16", "epochs=4",
    "warmup_epochs=1", "freeze_last_layer=1", "warmup_teacher_temp_epochs=1",
    "warmup_teacher_temp=0.04", "teacher_temp=0.06",
  ].flatMap { ["-D", $0] }

  /// A 12 s budget: the run ends within it (generously: the machine is shared), its
  /// printed plan is the iteration count it ran, and lr, weight decay, momentum, teacher
  /// temperature and the freeze reached their ends. The same length given as
  /// --iterations, without a pilot, ends bitwise equal (the pilot was undone). A budget
  /// too short for a few steps is one line.
  func testBudgetRunEndsWithinItsBudget() throws {
    let (dir, plan, images) = try budgetFixture()
    let graph = try PlanReader.read(contentsOf: plan)
    var options = try budgetOptions(images: images, output: dir + "/budget")
    options.followsPace = false  // the pilot's count, so a plain run of it is comparable
    var lines: [String] = []
    let run = try TrainingRun(graph: graph, options: options)
    let started = Date()
    let summary = try run.run { lines.append($0) }
    let seconds = Date().timeIntervalSince(started)

    let plan0 = try XCTUnwrap(lines.first)
    XCTAssertTrue(plan0.hasPrefix("budget 12s (12 s): pilot "), plan0)
    let chosen = try XCTUnwrap(summary.budget)
    XCTAssertTrue(plan0.contains("→ \(chosen.totalIterations) iterations = "), plan0)
    XCTAssertEqual(summary.steps, chosen.totalIterations)
    XCTAssertEqual(summary.totalIterations, chosen.totalIterations)
    XCTAssertGreaterThan(chosen.totalIterations, 100, plan0)
    XCTAssertGreaterThanOrEqual(chosen.pilotSteps, BudgetPlan.minimumPilotSteps)
    XCTAssertLessThan(seconds, 12 * 1.5, "a 12 s budget took \(seconds) s: \(plan0)")
    XCTAssertGreaterThan(seconds, 12 * 0.5, "a 12 s budget took \(seconds) s: \(plan0)")

    let last = try XCTUnwrap(summary.lastScalars)
    let peak = 0.0005 * 4 / 256
    XCTAssertEqual(last.lr, 1e-6, accuracy: peak * 1e-3)
    XCTAssertEqual(last.weightDecay, 0.4, accuracy: 1e-3)
    XCTAssertEqual(last.momentum, 1, accuracy: 1e-5)
    XCTAssertEqual(last.teacherTemp, 0.06)
    XCTAssertEqual(last.lastLayerGate, 1)
    let saved = try SafeTensors.read(contentsOf: dir + "/budget/checkpoint.safetensors")
    XCTAssertEqual(saved.metadata["step"], "\(chosen.totalIterations)")
    XCTAssertEqual(saved.metadata["total_iterations"], "\(chosen.totalIterations)")
    XCTAssertEqual(saved.metadata["budget"], "12s")
    // The last layer trained for all but the first quarter of the run (1 of 4 epochs).
    let frozen = (Double(chosen.totalIterations) / 4).rounded()
    XCTAssertEqual(
      saved.tensors["adam_step.student.head.last_layer.weight_v"]?.floats,
      [Float(Double(chosen.totalIterations) - frozen)])

    let plain = try DinoTool.run(
      "dino-run",
      [
        "train", plan, "--data", images, "--output", dir + "/plain", "--iterations",
        "\(chosen.totalIterations)", "--threads", "1", "--log-every", "100000",
      ])
    XCTAssertEqual(plain.status, 0, plain.stderr)
    let same = try SafeTensors.read(contentsOf: dir + "/plain/checkpoint.safetensors")
    XCTAssertTrue(same.tensors == saved.tensors, "the pilot left a trace in the weights")

    let short = try DinoTool.run(
      "dino-run",
      ["train", plan, "--data", images, "--output", dir + "/short", "--budget", "0.05"])
    XCTAssertEqual(short.status, 1, short.stderr)
    XCTAssertTrue(
      short.stderr.hasPrefix("dino-run: error: --budget 0.05 is too short: the pilot measured"),
      short.stderr)
    XCTAssertEqual(short.stderr.filter { $0 == "\n" }.count, 1, short.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/short/checkpoint.safetensors"))
  }
}
