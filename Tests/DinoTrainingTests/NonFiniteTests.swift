import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// A NaN or infinity stops `dino-run step`, `exec` and `train` with one line naming the
/// first instruction that produced one, its op and its model.swift location; the weights
/// and the last checkpoint stay as they were. Files holding NaN or infinity are refused at
/// load (HostileRunTests), so the values here are finite but overflow float32 in a kernel.
final class NonFiniteTests: XCTestCase {
  /// `model.swift:line:column` of the fashion_mnist sample, as the plan records it.
  static let location = #"Samples/fashion_mnist\.swift:\d+:\d+"#

  /// Asserts exit status 1 and one `dino-run: error:` line containing every `part` and a
  /// model.swift location.
  func assertOneLine(
    _ result: (status: Int32, stdout: String, stderr: String), _ parts: [String],
    line: UInt = #line
  ) {
    XCTAssertEqual(result.status, 1, result.stderr, line: line)
    XCTAssertTrue(result.stderr.hasPrefix("dino-run: error: "), result.stderr, line: line)
    XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr, line: line)
    for part in parts {
      XCTAssertTrue(result.stderr.contains(part), "\(result.stderr) lacks \(part)", line: line)
    }
    XCTAssertNotNil(
      result.stderr.range(of: Self.location, options: .regularExpression), result.stderr,
      line: line)
  }

  /// The reference case `step_epoch1` with one float changed: `tensor`'s element `index`.
  func poisoned(_ file: SafeTensors, _ tensor: String, _ index: Int, _ value: Float) throws
    -> SafeTensors
  {
    var copy = file
    var floats = try XCTUnwrap(copy.tensors[tensor], tensor).floats
    floats[index] = value
    copy.tensors[tensor] = HostTensor(shape: copy.tensors[tensor]!.shape, floats: floats)
    return copy
  }

  func testAnOverflowingInitWeightIsNamedWithTheInstructionThatOverflowed() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(c.defines, in: dir)
    let weight = "student.backbone.patch_embed.proj.weight"
    try poisoned(c.initial, weight, 0, 3e38).write(to: dir + "/init.safetensors")
    let result = try DinoTool.run(
      "dino-run",
      [
        "step", plan, "--init", dir + "/init.safetensors", "--crops",
        StepParityTests.referenceFolder + "/step_epoch1.crops.safetensors", "-o",
        dir + "/after.safetensors", "--epoch", "1",
      ])
    assertOneLine(
      result,
      [
        "dino-run step (epoch 1): loss is ", "first non-finite value: @train_step %",
        " patch_embed (student.backbone.patch_embed.proj) at ", " produced ",
      ])
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/after.safetensors"))
  }

  func testAnOverflowingCropThroughStepIsNamedWithItsOp() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(c.defines, in: dir)
    try poisoned(c.crops, "crop2", 5, 3e38).write(to: dir + "/crops.safetensors")
    let result = try DinoTool.run(
      "dino-run",
      [
        "step", plan, "--init", StepParityTests.referenceFolder + "/step_epoch1.init.safetensors",
        "--crops", dir + "/crops.safetensors", "-o", dir + "/after.safetensors",
      ])
    assertOneLine(
      result,
      [
        "dino-run step (epoch 0): loss is ", "first non-finite value: @train_step %", " produced ",
      ])
  }

  /// In process: the checked re-run reports a computed value with its op, location and
  /// scope, and leaves the weights as they were before the step.
  func testCheckedRunNamesTheProducingInstructionAndRestoresTheWeights() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let trainer = try DINOTrainer(plan: try StepParityTests.compile(c.defines, in: dir))
    try trainer.loadWeights(c.initial)
    try trainer.setCrops(c.crops)
    var scalars = c.scalars
    scalars.lr = 1e30  // Adam moves every weight by ~lr: the next forward pass overflows
    let stepGuard = try StepGuard(trainer: trainer)
    let first = try stepGuard.trainStep(scalars, label: "step 0")
    XCTAssertTrue(first.isFinite)
    let afterFirst = try regions(trainer.runtime)
    XCTAssertThrowsError(try stepGuard.trainStep(scalars, label: "step 1")) { error in
      let text = "\(error)"
      XCTAssertTrue(text.hasPrefix("step 1: "), text)
      XCTAssertTrue(text.contains("first non-finite value: @train_step %"), text)
      XCTAssertTrue(text.contains(" produced "), text)
      XCTAssertNotNil(text.range(of: Self.location, options: .regularExpression), text)
    }
    // After the failure every buffer is as it was before the failing step.
    XCTAssertTrue(try regions(trainer.runtime) == afterFirst, "the failed step left changes")
    XCTAssertGreaterThanOrEqual(stepGuard.steps, 2)
  }

  /// Every persistent region's bytes.
  func regions(_ runtime: Runtime) throws -> [[UInt8]] {
    try runtime.layout.regions.map { Array(try runtime.region($0)) }
  }

  func testExecNamesTheFirstNonFiniteOp() throws {
    let c = try StepParityTests.load("step_epoch1")
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(c.defines, in: dir)
    let crop = try XCTUnwrap(c.crops.tensors["crop0"])
    let floats = [Float](repeating: 3e38, count: crop.floats.count)  // sums overflow
    try SafeTensors(tensors: ["image": HostTensor(shape: crop.shape, floats: floats)]).write(
      to: dir + "/image.safetensors")
    let result = try DinoTool.run(
      "dino-run",
      [
        "exec", plan, "--program", "features", "--inputs", dir + "/image.safetensors", "-o",
        dir + "/features.safetensors",
      ])
    assertOneLine(
      result,
      [
        "@features: output 'features' holds ", "first non-finite value: @features %",
        " produced ",
      ])
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/features.safetensors"))
  }

  /// Training that goes non-finite after a checkpoint leaves that checkpoint byte for byte.
  func testTrainingKeepsTheLastGoodCheckpoint() throws {
    let dir = try temporaryDirectory()
    let images = try TrainTests.makeImages(in: dir, perClass: 2)
    let good = try StepParityTests.compile(TrainTests.tiny, in: dir)
    var result = try DinoTool.run(
      "dino-run",
      [good, "--data", images, "--output", dir + "/run", "--epochs", "1", "--threads", "1"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let checkpoint = dir + "/run/checkpoint.safetensors"
    let saved = try Data(contentsOf: URL(fileURLWithPath: checkpoint))
    try FileManager.default.createDirectory(
      atPath: dir + "/boom", withIntermediateDirectories: true)
    let exploding = try StepParityTests.compile(
      TrainTests.tiny + ["-D", "lr=1e38", "-D", "warmup_epochs=0"], in: dir + "/boom")
    result = try DinoTool.run(
      "dino-run",
      [
        exploding, "--data", images, "--output", dir + "/run", "--resume", "--force", "--epochs",
        "2",
        "--threads", "1",
      ])
    assertOneLine(result, ["stopping training at step ", " (epoch 1, iteration ", " produced "])
    XCTAssertEqual(try Data(contentsOf: URL(fileURLWithPath: checkpoint)), saved)
  }
}
