import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// Data-parallel training under `mpirun`: two processes with batch B train as one process
/// with batch 2B (weights, teacher, Adam moments and center to the parity tolerance), a
/// diverging or killed rank stops the run with one line naming it and leaves a loadable
/// checkpoint, and a resume with the same process count continues bit for bit.
/// Skipped, saying so, where `mpirun` is not installed (tools/install-packages.sh installs it).
final class DataParallelTests: XCTestCase {
  /// TrainTests' tiny ViT with two blocks (the second with drop path 0.1, so the masks of
  /// the global batch matter) at `batch` images per process.
  static func defines(batch: Int) -> [String] {
    TrainTests.tiny + ["-D", "depth=2", "-D", "drop_path=0.1", "-D", "batch=\(batch)"]
  }

  /// The `mpirun` on PATH, or a skip.
  func mpirun() throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for folder in path.split(separator: ":") {
      let candidate = String(folder) + "/mpirun"
      if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw XCTSkip(
      "mpirun is not installed: run tools/install-packages.sh (openmpi-bin, libopenmpi-dev)")
  }

  /// Runs `dino-run arguments` as `ranks` processes under mpirun (root allowed, the two
  /// cores oversubscribed, no core binding, no single-copy mechanism: containers).
  func launch(
    ranks: Int, _ arguments: [String], environment: [String: String] = [:]
  ) throws -> (status: Int32, stdout: String, stderr: String) {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: try mpirun())
    process.arguments =
      [
        "-np", "\(ranks)", "--oversubscribe", "--bind-to", "none", "--mca",
        "btl_vader_single_copy_mechanism", "none",
      ] + environment.keys.sorted().flatMap { ["-x", $0] }
      + [DinoTool.buildDirectory + "/dino-run"] + arguments
    var env = ProcessInfo.processInfo.environment
    env["OMPI_ALLOW_RUN_AS_ROOT"] = "1"
    env["OMPI_ALLOW_RUN_AS_ROOT_CONFIRM"] = "1"
    env.merge(environment) { $1 }
    process.environment = env
    let dir = try temporaryDirectory()
    let (out, err) = (dir + "/stdout", dir + "/stderr")
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    process.standardInput = FileHandle.nullDevice
    try process.run()
    process.waitUntilExit()
    return (
      process.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
      (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
    )
  }

  /// In-process options writing to `output`: one worker, no numbered or timed copies.
  static func options(_ images: String, _ output: String) -> TrainingOptions {
    var options = TrainingOptions(data: images)
    options.output = output
    options.workers = 1
    options.saveEvery = 0
    options.saveEveryMinutes = 0
    return options
  }

  /// A temporary folder with the batch-2 plan and 18 images (skips without mpirun).
  func fixture() throws -> (dir: String, plan: String, images: String) {
    _ = try mpirun()
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(Self.defines(batch: 2), in: dir)
    return (dir, plan, try TrainTests.makeImages(in: dir, perClass: 9))
  }

  /// `train` arguments for `iterations` iterations on one thread, logging every step.
  func trainArguments(_ plan: String, _ images: String, _ output: String, iterations: Int)
    -> [String]
  {
    [
      "train", plan, "--data", images, "--output", output, "--iterations", "\(iterations)",
      "--threads", "1", "--workers", "1", "--log-every", "1", "--save-every", "0",
      "--save-every-minutes", "0",
    ]
  }

  /// One process with batch 4 and `mpirun -np 2` with batch 2 over 18 images (4 iterations
  /// per epoch either way) for 6 iterations: the same student, teacher, Adam moments and
  /// center to the parity tolerance (only the order of the gradient sums differs), the
  /// same epoch losses; rank 0 printed the launch line and wrote the checkpoint.
  func testTwoRanksEqualOneProcessWithTheGlobalBatch() throws {
    try assertTwoRanksEqualOneProcess { batch, folder in
      try StepParityTests.compile(Self.defines(batch: batch), in: folder)
    }
  }

  /// As `testTwoRanksEqualOneProcessWithTheGlobalBatch` with DINOv2's Sinkhorn-Knopp
  /// centering (Samples/fashion_mnist_cpu.swift, 3 iterations): every iteration's
  /// per-prototype sums are summed over the ranks (`all_reduce_sum`), so the two ranks'
  /// targets are those of the global batch.
  func testTwoRanksWithSinkhornKnoppEqualOneProcessWithTheGlobalBatch() throws {
    try assertTwoRanksEqualOneProcess { batch, folder in
      let plan = folder + "/plan.bin"
      let result = try DinoTool.run(
        "dinoc",
        ["compile", StepParityTests.packageRoot + "/Samples/fashion_mnist_cpu.swift", "-o", plan]
          + mergedDefines(Self.defines(batch: batch) + ["-D", "centering=sinkhorn:3"]))
      guard result.status == 0 else {
        throw DinoTool.Failure("dinoc compile failed:\n\(result.stderr)")
      }
      return plan
    }
  }

  /// One process with batch 4 and `mpirun -np 2` with batch 2 (plans from `compile(batch,
  /// folder)`) over 18 images for 6 iterations: see the two tests above.
  private func assertTwoRanksEqualOneProcess(
    compile: (Int, String) throws -> String
  ) throws {
    _ = try mpirun()
    let dir = try temporaryDirectory()
    try FileManager.default.createDirectory(
      atPath: dir + "/b2", withIntermediateDirectories: true)
    try FileManager.default.createDirectory(
      atPath: dir + "/b4", withIntermediateDirectories: true)
    let small = try compile(2, dir + "/b2")
    let big = try compile(4, dir + "/b4")
    let images = try TrainTests.makeImages(in: dir, perClass: 9)

    var options = Self.options(images, dir + "/one")
    options.iterations = 6
    let one = try TrainingRun(graph: try PlanReader.read(contentsOf: big), options: options)
    _ = try one.run { _ in }

    let two = try launch(
      ranks: 2, trainArguments(small, images, dir + "/two", iterations: 6))
    XCTAssertEqual(two.status, 0, two.stderr)
    XCTAssertTrue(
      two.stdout.contains("ranks 2, threads per rank 1, global batch 4 (2 × 2)"), two.stdout)
    XCTAssertEqual(
      two.stdout.components(separatedBy: "dino-run train: 18 images").count, 2,
      "rank 0 alone prints")

    let expected = try SafeTensors.read(contentsOf: dir + "/one/checkpoint.safetensors")
    let got = try SafeTensors.read(contentsOf: dir + "/two/checkpoint.safetensors")
    XCTAssertEqual(got.metadata["world_size"], "2")
    XCTAssertEqual(got.metadata["step"], "6")
    XCTAssertEqual(Set(got.tensors.keys), Set(expected.tensors.keys))
    XCTAssertNotNil(got.tensors["center"])
    for (name, tensor) in expected.tensors.sorted(by: { $0.key < $1.key }) {
      assertClose(got.tensors[name]?.floats ?? [], tensor.floats.map(Double.init), name)
    }
    let lossKey = "\"train_loss\": "
    let lines = { (path: String) in
      ((try? String(contentsOfFile: path, encoding: .utf8)) ?? "").split(separator: "\n")
        .compactMap { line -> Double? in
          guard let range = line.range(of: lossKey) else { return nil }
          return Double(line[range.upperBound...].prefix { $0 != "," && $0 != "}" })
        }
    }
    let oneLosses = lines(dir + "/one/log.txt")
    XCTAssertEqual(oneLosses.count, 2)
    assertClose(lines(dir + "/two/log.txt").map(Float.init), oneLosses, "epoch losses")
  }

  /// A rank killed at iteration 5 (after the epoch-0 checkpoint at 4): the job stops
  /// within seconds, mpirun's line names the rank and its signal, and the checkpoint of
  /// iteration 4 loads. Resuming it with two processes ends bit for bit where an
  /// uninterrupted two-process run ends.
  func testKilledRankStopsTheRunAndTheCheckpointResumesBitwise() throws {
    let (dir, plan, images) = try fixture()

    let killed = try launch(
      ranks: 2, trainArguments(plan, images, dir + "/killed", iterations: 8),
      environment: ["DINO_TEST_KILL_RANK": "1:5"])
    XCTAssertNotEqual(killed.status, 0)
    let said = killed.stdout + killed.stderr
    XCTAssertTrue(
      said.contains("rank 1") && said.contains("signal 9"), "no line names the rank: \(said)")
    let saved = try SafeTensors.read(contentsOf: dir + "/killed/checkpoint.safetensors")
    XCTAssertEqual(saved.metadata["step"], "4")

    let resumed = try launch(
      ranks: 2, trainArguments(plan, images, dir + "/killed", iterations: 8) + ["--resume"])
    XCTAssertEqual(resumed.status, 0, resumed.stderr)
    let whole = try launch(ranks: 2, trainArguments(plan, images, dir + "/whole", iterations: 8))
    XCTAssertEqual(whole.status, 0, whole.stderr)
    let end = try SafeTensors.read(contentsOf: dir + "/killed/checkpoint.safetensors")
    let expected = try SafeTensors.read(contentsOf: dir + "/whole/checkpoint.safetensors")
    XCTAssertEqual(end.metadata["step"], "8")
    XCTAssertTrue(end.tensors == expected.tensors, "the resumed run ends elsewhere")
  }

  /// Rank 1's loss goes NaN at iteration 5: every rank stops after that step, one line
  /// names rank 1 and the first non-finite value, nothing is saved after it (the checkpoint
  /// of iteration 4 loads). One process then resumes that checkpoint with a note: 4 of the
  /// two processes' 4 iterations per epoch become 9 of its 9, and the 8 iterations of the
  /// scaled schedule 18.
  func testNaNOnOneRankStopsEveryRankAndADifferentCountResumesWithANote() throws {
    let (dir, plan, images) = try fixture()
    let failed = try launch(
      ranks: 2, trainArguments(plan, images, dir + "/run", iterations: 8),
      environment: ["DINO_TEST_NAN_RANK": "1:5"])
    XCTAssertEqual(failed.status, 1)
    let errors = failed.stderr.split(separator: "\n").filter { $0.hasPrefix("dino-run: error:") }
    XCTAssertEqual(errors.count, 1, failed.stderr)
    XCTAssertTrue(
      errors.first?.hasPrefix(
        "dino-run: error: rank 1 of 2: stopping training at step 5 (epoch 1, iteration 1): "
          + "loss is nan; first non-finite value: input 'crop0' holds nan") ?? false,
      failed.stderr)
    let saved = try SafeTensors.read(contentsOf: dir + "/run/checkpoint.safetensors")
    XCTAssertEqual(saved.metadata["step"], "4")
    XCTAssertEqual(saved.metadata["world_size"], "2")

    var options = Self.options(images, dir + "/run")
    options.resume = true
    var lines: [String] = []
    let rest = try TrainingRun(graph: try PlanReader.read(contentsOf: plan), options: options)
      .run { lines.append($0) }
    XCTAssertTrue(
      lines.contains {
        $0.hasPrefix("note: \(dir)/run/checkpoint.safetensors was trained by 2 processes")
          && $0.contains("iteration 4 becomes 9")
      }, lines.joined(separator: "\n"))
    XCTAssertEqual(rest.totalIterations, 18)
    XCTAssertEqual(rest.steps, 9)
    let end = try SafeTensors.read(contentsOf: dir + "/run/checkpoint.safetensors")
    XCTAssertEqual(end.metadata["world_size"], "1")
    XCTAssertEqual(end.metadata["step"], "18")
  }

  /// An error every rank meets (here --budget, which several processes refuse) is one
  /// line, from rank 0.
  func testAnErrorOfEveryRankIsOneLine() throws {
    let (dir, plan, images) = try fixture()
    let result = try launch(
      ranks: 2,
      ["train", plan, "--data", images, "--output", dir + "/run", "--budget", "60s"])
    XCTAssertEqual(result.status, 1)
    let errors = result.stderr.split(separator: "\n").filter { $0.hasPrefix("dino-run: error:") }
    XCTAssertEqual(
      errors,
      [
        "dino-run: error: rank 0 of 2: --budget is not supported with several processes yet: "
          + "give --iterations or --epochs"
      ], result.stderr)
  }
}
