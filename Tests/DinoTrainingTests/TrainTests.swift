import DinoData
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run train` on a tiny ViT (Samples/fashion_mnist.swift, small `-D` sizes) and a
/// tiny generated image folder: finite losses, log lines and log.txt, checkpoints, resume.
final class TrainTests: XCTestCase {
  /// A ViT of one block of width 16 on 16-px grey crops (2 global, 2 local of 8 px),
  /// batch 2, two epochs with one warmup epoch.
  static let tiny = [
    "batch=2", "dim=16", "depth=1", "heads=2", "patch=4", "global_size=16", "local_size=8",
    "local_crops=2", "out_dim=32", "hidden_dim=24", "bottleneck_dim=8", "epochs=2",
    "warmup_epochs=1",
  ].flatMap { ["-D", $0] }

  /// Writes `perClass` random grey PNGs of two classes (sizes vary) under `dir/images`.
  static func makeImages(in dir: String, perClass: Int) throws -> String {
    var state: UInt64 = 0x1234_5678
    for name in ["cats", "dogs"] {
      try FileManager.default.createDirectory(
        atPath: "\(dir)/images/\(name)", withIntermediateDirectories: true)
      for i in 0..<perClass {
        let (width, height) = (18 + i, 20 + 2 * i)
        let pixels = (0..<width * height).map { _ -> UInt8 in
          state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          return UInt8(truncatingIfNeeded: state >> 56)
        }
        try Image(width: width, height: height, channels: 1, pixels: pixels).writePNG(
          to: "\(dir)/images/\(name)/\(i).png")
      }
    }
    return dir + "/images"
  }

  /// Trains two epochs in process: every loss finite, one log line per --log-every
  /// iterations, one JSON line per epoch, checkpoints with all buffers; then the CLI
  /// (default subcommand) resumes the epoch-0 checkpoint and ends bitwise where the
  /// uninterrupted run ended.
  func testTrainsWritesCheckpointsAndResumes() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(Self.tiny, in: dir)
    let images = try Self.makeImages(in: dir, perClass: 5)
    var options = TrainingOptions(data: images)
    options.output = dir + "/run"
    options.workers = 2
    options.logEvery = 2
    options.saveEvery = 1
    let run = try TrainingRun(graph: try PlanReader.read(contentsOf: plan), options: options)
    var lines: [String] = []
    let summary = try run.run { lines.append($0) }

    XCTAssertEqual(summary.iterationsPerEpoch, 5)  // ⌊10 images / batch 2⌋
    XCTAssertEqual(summary.steps, 10)
    XCTAssertEqual(summary.startEpoch, 0)
    let losses = lines.filter { $0.hasPrefix("Epoch: [") && $0.contains("loss: ") }
    XCTAssertEqual(losses.count, 6, lines.joined(separator: "\n"))  // iterations 0, 2, 4
    XCTAssertTrue(losses[0].hasPrefix("Epoch: [0/2]  [0/5]  eta: "), losses[0])
    XCTAssertTrue(losses[5].hasPrefix("Epoch: [1/2]  [4/5]  eta: "), losses[5])
    for line in losses {
      for field in ["loss: ", "lr: ", "wd: ", "time: ", "data: "] {
        XCTAssertTrue(line.contains(field), line)
      }
      XCTAssertFalse(line.contains("nan") || line.contains("inf"), line)
    }
    XCTAssertTrue(summary.lastLoss.map { $0.isFinite && $0 > 0 } ?? false)

    let log = try String(contentsOfFile: dir + "/run/log.txt", encoding: .utf8)
    let records = log.split(separator: "\n").map {
      try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any]
    }
    XCTAssertEqual(records.count, 2, log)
    for (epoch, record) in records.enumerated() {
      XCTAssertEqual(record?["epoch"] as? Int, epoch, log)
      XCTAssertTrue((record?["train_loss"] as? Double).map { $0.isFinite } ?? false, log)
      XCTAssertNotNil(record?["train_lr"] as? Double, log)
      XCTAssertNotNil(record?["train_wd"] as? Double, log)
    }

    let checkpoint = try SafeTensors.read(contentsOf: dir + "/run/checkpoint.safetensors")
    XCTAssertEqual(checkpoint.metadata["epoch"], "2")
    XCTAssertEqual(checkpoint.metadata["step"], "10")
    XCTAssertEqual(Set(checkpoint.tensors.keys), Set(run.trainer.runtime.bufferNames))
    for region in ["student.", "teacher.", "center", "adam_m.", "adam_v.", "adam_step."] {
      XCTAssertTrue(checkpoint.tensors.keys.contains { $0.hasPrefix(region) }, region)
    }
    // The last layer is frozen in epoch 0 (freeze_last_layer 1): 5 Adam steps, not 10.
    XCTAssertEqual(
      checkpoint.tensors["adam_step.student.head.last_layer.weight_v"]?.floats, [5])
    XCTAssertEqual(checkpoint.tensors["adam_step.student.backbone.cls_token"]?.floats, [10])
    let first = try SafeTensors.read(contentsOf: dir + "/run/checkpoint0000.safetensors")
    XCTAssertEqual(first.metadata["epoch"], "1")
    XCTAssertNotEqual(first.tensors, checkpoint.tensors)

    // Resume from the epoch-0 checkpoint through the CLI's default subcommand.
    try FileManager.default.createDirectory(
      atPath: dir + "/resumed", withIntermediateDirectories: true)
    try FileManager.default.copyItem(
      atPath: dir + "/run/checkpoint0000.safetensors",
      toPath: dir + "/resumed/checkpoint.safetensors")
    let result = try DinoTool.run(
      "dino-run",
      [
        plan, "--data", images, "--output", dir + "/resumed", "--resume", "--threads", "1",
        "--workers", "1",
      ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("Epoch: [1/2]  [0/5]"), result.stdout)
    XCTAssertFalse(result.stdout.contains("Epoch: [0/2]"), result.stdout)
    let resumed = try SafeTensors.read(contentsOf: dir + "/resumed/checkpoint.safetensors")
    XCTAssertTrue(resumed.tensors == checkpoint.tensors, "resumed run ends elsewhere")
  }

  /// A non-finite loss stops with one line naming the step and the first non-finite
  /// instruction, and exit status 1, saving nothing;
  /// an existing checkpoint is not overwritten without --resume; too few images is one line.
  func testStopsAndRefuses() throws {
    let dir = try temporaryDirectory()
    let images = try Self.makeImages(in: dir, perClass: 2)
    let exploding = try StepParityTests.compile(
      Self.tiny + ["-D", "lr=1e30", "-D", "warmup_epochs=0", "-D", "freeze_last_layer=0"],
      in: dir)
    var result = try DinoTool.run(
      "dino-run",
      ["train", exploding, "--data", images, "--output", dir + "/nan", "--threads", "1"])
    XCTAssertEqual(result.status, 1, result.stderr)
    // One line: the step, what went non-finite, and the first instruction that made it.
    XCTAssertTrue(
      result.stderr.hasPrefix("dino-run: error: stopping training at step "), result.stderr)
    XCTAssertTrue(result.stderr.contains("; first non-finite value: @train_step %"), result.stderr)
    let location = #"fashion_mnist\.swift:\d+:\d+ produced"#
    XCTAssertNotNil(result.stderr.range(of: location, options: .regularExpression), result.stderr)
    XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/nan/checkpoint.safetensors"))

    let plan = try StepParityTests.compile(Self.tiny, in: dir)
    try FileManager.default.createDirectory(
      atPath: dir + "/full", withIntermediateDirectories: true)
    try Data("x".utf8).write(to: URL(fileURLWithPath: dir + "/full/checkpoint.safetensors"))
    for (arguments, text) in [
      ([dir + "/full"], "checkpoint.safetensors exists: pass --resume"),
      ([dir + "/none", "--resume"], "--resume: there is no "),
      ([dir + "/full", "--resume"], "checkpoint.safetensors"),
      (
        [dir + "/full", "--resume", "--init", dir + "/w"], "--init and --resume exclude each other"
      ),
    ] {
      result = try DinoTool.run(
        "dino-run", ["train", plan, "--data", images, "--output"] + arguments)
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertTrue(result.stderr.hasPrefix("dino-run: error: "), result.stderr)
      XCTAssertTrue(result.stderr.contains(text), "\"\(result.stderr)\" lacks \"\(text)\"")
      XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    }
    let one = try Self.makeImages(in: dir + "/one", perClass: 1)
    try FileManager.default.removeItem(atPath: one + "/dogs")
    result = try DinoTool.run(
      "dino-run", ["train", plan, "--data", one, "--output", dir + "/one/run"])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertEqual(result.stderr, "dino-run: error: 1 images give no full batch of 2\n")
  }
}
