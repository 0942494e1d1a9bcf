import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// Stopping and resuming `dino-run train`: a mid-epoch stop resumes bit for bit, SIGINT
/// and SIGTERM save and exit 130/143 with the command that resumes, and a kill in the
/// middle of a checkpoint write leaves the previous checkpoint loadable.
final class StopAndResumeTests: XCTestCase {
  /// TrainTests' tiny ViT (2 epochs; 5 iterations per epoch on 10 images).
  func makeRun(in dir: String) throws -> (plan: String, images: String) {
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let images = try TrainTests.makeImages(in: dir, perClass: 5)
    return (plan, images)
  }

  /// Options writing to `dir/name`, one thread, no numbered or timed copies.
  func options(_ images: String, _ output: String) -> TrainingOptions {
    var options = TrainingOptions(data: images)
    options.output = output
    options.workers = 2
    options.logEvery = 1
    options.saveEvery = 0
    options.saveEveryMinutes = 0
    return options
  }

  /// A stop requested in epoch 1 iteration 2 (global step 7) saves after that step; the
  /// resumed run's losses and final weights, Adam state and center equal the
  /// uninterrupted run's bit for bit.
  func testMidEpochResumeIsBitwise() throws {
    let dir = try temporaryDirectory()
    let (plan, images) = try makeRun(in: dir)
    let graph = try PlanReader.read(contentsOf: plan)
    let whole = try TrainingRun(graph: graph, options: options(images, dir + "/whole"))
    let reference = try whole.run { _ in }
    XCTAssertEqual(reference.losses.count, 10)

    let stopped = try TrainingRun(graph: graph, options: options(images, dir + "/stopped"))
    let first = try stopped.run { line in
      if line.hasPrefix("Epoch: [1/2]  [2/5]") { StopSignals.record(SIGINT) }
    }
    XCTAssertEqual(first.stoppedBy, SIGINT)
    XCTAssertEqual(first.endStep, 8)
    XCTAssertEqual(first.losses.map(\.bitPattern), reference.losses[..<8].map(\.bitPattern))
    let saved = try SafeTensors.read(contentsOf: dir + "/stopped/checkpoint.safetensors")
    XCTAssertEqual(saved.metadata["step"], "8")
    XCTAssertEqual(saved.metadata["epoch"], "1")
    XCTAssertEqual(saved.metadata["total_iterations"], "10")

    var resume = options(images, dir + "/stopped")
    resume.resume = true
    let rest = try TrainingRun(graph: graph, options: resume).run { _ in }
    XCTAssertNil(rest.stoppedBy)
    XCTAssertEqual(rest.steps, 2)
    XCTAssertEqual(rest.losses.map(\.bitPattern), reference.losses[8...].map(\.bitPattern))
    let end = try SafeTensors.read(contentsOf: dir + "/stopped/checkpoint.safetensors")
    let expected = try SafeTensors.read(contentsOf: dir + "/whole/checkpoint.safetensors")
    XCTAssertEqual(end.tensors.count, expected.tensors.count)
    XCTAssertTrue(end.tensors == expected.tensors, "the resumed run ends elsewhere")
    XCTAssertEqual(end.metadata["step"], "10")
  }

  /// Runs the built dino-run with `arguments` (and `environment` added); `whenSeen` is
  /// called once stdout contains `marker`, with the process id.
  func launch(
    _ arguments: [String], environment: [String: String] = [:], marker: String? = nil,
    whenSeen: (Int32) -> Void = { _ in }
  ) throws -> (status: Int32, signaled: Bool, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: DinoTool.buildDirectory + "/dino-run")
    process.arguments = arguments
    process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    let out = Pipe()
    let errFile = NSTemporaryDirectory() + "dino-stderr-" + UUID().uuidString
    _ = FileManager.default.createFile(atPath: errFile, contents: nil)
    defer { try? FileManager.default.removeItem(atPath: errFile) }
    process.standardOutput = out
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: errFile))
    try process.run()
    var text = Data()
    var seen = marker == nil
    while true {
      let chunk = out.fileHandleForReading.availableData
      if chunk.isEmpty { break }
      text.append(chunk)
      if !seen, let marker, String(decoding: text, as: UTF8.self).contains(marker) {
        seen = true
        whenSeen(process.processIdentifier)
      }
    }
    process.waitUntilExit()
    return (
      process.terminationStatus, process.terminationReason == .uncaughtSignal,
      String(decoding: text, as: UTF8.self),
      (try? String(contentsOfFile: errFile, encoding: .utf8)) ?? ""
    )
  }

  /// SIGINT after a few steps: the current step finishes, the checkpoint is saved, one
  /// line names it and the command that resumes, exit 130; that command finishes the run.
  /// SIGTERM does the same with exit 143. A second signal right after the first changes
  /// nothing.
  func testSignalsSaveAndTheirCommandResumes() throws {
    let dir = try temporaryDirectory()
    let (plan, images) = try makeRun(in: dir)
    for (signal, status) in [(SIGINT, Int32(130)), (SIGTERM, 143)] {
      let output = dir + "/run\(signal)"
      let result = try launch(
        [
          "train", plan, "--data", images, "--output", output, "--epochs", "300",
          "--threads", "1", "--log-every", "1",
        ], marker: "Epoch: [0/300]  [3/5]"
      ) { pid in  // twice: the second arrives while the first is handled
        kill(pid, signal)
        kill(pid, signal)
      }
      XCTAssertFalse(result.signaled, "killed by the signal instead of stopping")
      XCTAssertEqual(result.status, status, result.stderr)
      let lines = result.stderr.split(separator: "\n")
      XCTAssertEqual(lines.count, 1, result.stderr)
      let name = signal == SIGINT ? "SIGINT" : "SIGTERM"
      XCTAssertTrue(
        result.stderr.hasPrefix("dino-run: stopped by \(name): saved \(output)/checkpoint"),
        result.stderr)
      let saved = try SafeTensors.read(contentsOf: output + "/checkpoint.safetensors")
      let step = Int(saved.metadata["step"] ?? "") ?? -1
      XCTAssertGreaterThanOrEqual(step, 4)
      XCTAssertLessThan(step, 1500)
      XCTAssertTrue(result.stderr.contains("at iteration \(step) of 1500"), result.stderr)
      guard signal == SIGINT else { continue }
      let command = try XCTUnwrap(result.stderr.components(separatedBy: "resume with: ").last)
      let words = command.trimmingCharacters(in: .whitespacesAndNewlines)
        .split(separator: " ").map(String.init)
      XCTAssertEqual(words.first, "dino-run")
      let resumed = try DinoTool.run("dino-run", Array(words.dropFirst()) + ["--log-every", "500"])
      XCTAssertEqual(resumed.status, 0, resumed.stderr)
      XCTAssertTrue(resumed.stdout.contains("iterations \(step)..<1500"), resumed.stdout)
      let end = try SafeTensors.read(contentsOf: output + "/checkpoint.safetensors")
      XCTAssertEqual(end.metadata["step"], "1500")
    }
  }

  /// `DINO_TEST_KILL_IN_CHECKPOINT_WRITE=2` kills the process (SIGKILL) while the second
  /// checkpoint (epoch 1's end) is half written: epoch 0's checkpoint stays loadable, the
  /// stale temporary file is removed by the next run, which resumes and ends where an
  /// uninterrupted run ends.
  func testKillDuringCheckpointWriteKeepsThePreviousOne() throws {
    let dir = try temporaryDirectory()
    let (plan, images) = try makeRun(in: dir)
    let output = dir + "/killed"
    let common = [
      "train", plan, "--data", images, "--output", output, "--threads", "1", "--save-every",
      "0",
    ]
    let killed = try launch(common, environment: ["DINO_TEST_KILL_IN_CHECKPOINT_WRITE": "2"])
    XCTAssertTrue(killed.signaled, "status \(killed.status): \(killed.stderr)")
    XCTAssertEqual(killed.status, SIGKILL)
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: output)
    XCTAssertTrue(
      leftovers.contains { $0.hasPrefix(".checkpoint.safetensors.tmp.") }, "\(leftovers)")
    let previous = try SafeTensors.read(contentsOf: output + "/checkpoint.safetensors")
    XCTAssertEqual(previous.metadata["step"], "5")
    let graph = try PlanReader.read(contentsOf: plan)
    let state = try DINOTrainer(graph: graph).loadCheckpoint(
      contentsOf: output + "/checkpoint.safetensors")
    XCTAssertEqual(state.epoch, 1)

    let resumed = try DinoTool.run("dino-run", common + ["--resume"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    let after = try FileManager.default.contentsOfDirectory(atPath: output)
    XCTAssertFalse(after.contains { $0.contains(".tmp.") }, "\(after)")
    var options = options(images, dir + "/whole")
    options.logEvery = 10
    try TrainingRun(graph: graph, options: options).run { _ in }
    let expected = try SafeTensors.read(contentsOf: dir + "/whole/checkpoint.safetensors")
    let end = try SafeTensors.read(contentsOf: output + "/checkpoint.safetensors")
    XCTAssertTrue(end.tensors == expected.tensors, "the resumed run ends elsewhere")
  }
}
