import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run train --epochs N` and `--iterations T`: the schedules span the run asked for,
/// not the plan's length.
final class TrainingLengthTests: XCTestCase {
  /// A 2-epoch plan (1 warm-up epoch, 1 frozen) run for 3 epochs ends its cosines at
  /// epoch 3; one whose warm-up is longer than --epochs is refused in one line; --iterations
  /// ends mid-epoch with every schedule at its end.
  func testEpochsAndIterationsSpanTheSchedules() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let images = try TrainTests.makeImages(in: dir, perClass: 5)
    let graph = try PlanReader.read(contentsOf: plan)
    var options = TrainingOptions(data: images)
    options.output = dir + "/three"
    options.epochs = 3
    options.logEvery = 100
    let three = try TrainingRun(graph: graph, options: options).run { _ in }
    XCTAssertEqual(three.totalIterations, 15)
    XCTAssertEqual(three.steps, 15)
    let peak = 0.0005 * 2 / 256
    let last = try XCTUnwrap(three.lastScalars)
    // Warm-up 5 iterations, cosine over the other 10: its last value is at j = 9 of 10.
    XCTAssertEqual(last.lr, 1e-6 + 0.5 * (peak - 1e-6) * (1 + cos(Double.pi * 9 / 10)))
    XCTAssertEqual(last.weightDecay, 0.4 + 0.5 * (0.04 - 0.4) * (1 + cos(Double.pi * 14 / 15)))
    let saved = try SafeTensors.read(contentsOf: dir + "/three/checkpoint.safetensors")
    XCTAssertEqual(saved.metadata["epochs"], "3")
    XCTAssertEqual(saved.metadata["step"], "15")

    options.output = dir + "/seven"
    options.epochs = nil
    options.iterations = 7
    let seven = try TrainingRun(graph: graph, options: options).run { _ in }
    XCTAssertEqual(seven.steps, 7)
    XCTAssertEqual(seven.epochs, 2)  // one full epoch and 2 iterations of the next
    let end = try XCTUnwrap(seven.lastScalars)
    XCTAssertEqual(end.lr, 1e-6 + 0.5 * (peak - 1e-6) * (1 + cos(Double.pi * 2 / 3)))
    XCTAssertEqual(end.lastLayerGate, 1)  // frozen for round(1 · 7 / 2) = 4 iterations

    try FileManager.default.createDirectory(
      atPath: dir + "/long", withIntermediateDirectories: true)
    let long = try StepParityTests.compile(
      TrainTests.tiny + ["-D", "epochs=4", "-D", "warmup_epochs=3"], in: dir + "/long")
    let result = try DinoTool.run(
      "dino-run",
      ["train", long, "--data", images, "--output", dir + "/long/run", "--epochs", "2"])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertEqual(
      result.stderr,
      "dino-run: error: --epochs: schedule: warmup_epochs 3 must be within 0...2 "
        + "(the run's epochs)\n")
  }
}
