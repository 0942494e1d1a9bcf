import DinoData
import DinoIR
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run features` and the feature files `knn` reads.
final class FeaturesCommandTests: XCTestCase {
  /// Features of a three-class folder with an undecodable file: one row per decodable
  /// image in folder order, labels and files as the folder has them, the file round-trips,
  /// and `knn` on the files prints what `knn` on the folders prints.
  func testFeaturesFileAndKNNFromFiles() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.initialize(seed: 9)
    let checkpoint = dir + "/ckpt.safetensors"
    try trainer.saveCheckpoint(to: checkpoint, epoch: 0, step: 0)
    let classes = ["ant", "bee", "cat"]
    let train = try writeGreyFolder(dir + "/train", classes: classes, perClass: 3, seed: 1)
    try Data("broken".utf8).write(to: URL(fileURLWithPath: train + "/bee/9.png"))
    let val = try writeGreyFolder(dir + "/val", classes: classes, perClass: 2, seed: 2)
    let result = try DinoTool.run(
      "dino-run",
      [
        "features", plan, "--checkpoint", checkpoint, "--data", train, "-o",
        dir + "/train.safetensors", "--threads", "1", "--workers", "1",
      ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("skipped 1"), result.stdout)
    let file = try FeatureFile.read(contentsOf: dir + "/train.safetensors")
    XCTAssertEqual(file.count, 9)
    XCTAssertEqual(file.dim, 16)
    XCTAssertEqual(file.classes, classes)
    XCTAssertEqual(file.labels, [0, 0, 0, 1, 1, 1, 2, 2, 2])
    XCTAssertEqual(
      file.files,
      [
        "ant/0.png", "ant/1.png", "ant/2.png", "bee/0.png", "bee/1.png", "bee/2.png",
        "cat/0.png", "cat/1.png", "cat/2.png",
      ])
    XCTAssertEqual(file.info["source"], "teacher")
    // The rows are the @features program's output for those images.
    let extractor = try FeatureExtractor(graph: try loadPlanGraph(plan))
    try extractor.loadTeacher(contentsOf: checkpoint)
    let direct = try extractor.extract(try ImageFolder(path: train), workers: 1)
    XCTAssertEqual(direct.features, file.features)
    // Round trip.
    try file.write(to: dir + "/copy.safetensors")
    XCTAssertEqual(try FeatureFile.read(contentsOf: dir + "/copy.safetensors"), file)

    let student = try DinoTool.run(
      "dino-run",
      [
        "features", plan, "--checkpoint", checkpoint, "--data", val, "-o",
        dir + "/val.safetensors", "--student", "--threads", "1",
      ])
    XCTAssertEqual(student.status, 0, student.stderr)
    let studentFile = try FeatureFile.read(contentsOf: dir + "/val.safetensors")
    XCTAssertEqual(studentFile.info["source"], "student")
    _ = try DinoTool.run(
      "dino-run",
      [
        "features", plan, "--checkpoint", checkpoint, "--data", val, "-o",
        dir + "/val.safetensors", "--threads", "1",
      ])
    let fromFiles = try DinoTool.run(
      "dino-run",
      [
        "knn", "--train-features", dir + "/train.safetensors", "--val-features",
        dir + "/val.safetensors", "--k", "1,3",
      ])
    let fromFolders = try DinoTool.run(
      "dino-run",
      [
        "knn", plan, "--checkpoint", checkpoint, "--train", train, "--val", val, "--k", "1,3",
        "--threads", "1",
      ])
    XCTAssertEqual(fromFiles.status, 0, fromFiles.stderr)
    func results(_ text: String) -> [Substring] {
      text.split(separator: "\n").filter { $0.contains("-NN classifier") }
    }
    XCTAssertEqual(results(fromFiles.stdout).count, 2, fromFiles.stdout)
    XCTAssertEqual(results(fromFiles.stdout), results(fromFolders.stdout))
  }

  /// The baselines: `--untrained` computes the features of the network training starts
  /// from (init specs and the plan's seed, or --seed), `--pixels` the normalised pixels;
  /// both equal a direct computation, and exactly one weight source is required.
  func testUntrainedAndPixelBaselines() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let classes = ["ant", "bee"]
    let train = try writeGreyFolder(dir + "/train", classes: classes, perClass: 3, seed: 3)
    let val = try writeGreyFolder(dir + "/val", classes: classes, perClass: 2, seed: 4)
    let graph = try loadPlanGraph(plan)
    let planSeed = UInt64(graph.hyper["seed"] ?? 0)
    for (seed, flags) in [(planSeed, [String]()), (UInt64(5), ["--untrained-seed", "5"])] {
      let trainer = try DINOTrainer(plan: plan)
      try trainer.initialize(seed: seed)
      let checkpoint = dir + "/init\(seed).safetensors"
      try trainer.saveCheckpoint(to: checkpoint, epoch: 0, step: 0)
      let untrained = try DinoTool.run(
        "dino-run",
        [
          "knn", plan, "--untrained", "--train", train, "--val", val, "--k", "1,3",
          "--threads", "1", "--dump-features", dir + "/u\(seed)",
        ] + flags)
      let saved = try DinoTool.run(
        "dino-run",
        [
          "knn", plan, "--checkpoint", checkpoint, "--train", train, "--val", val, "--k", "1,3",
          "--threads", "1", "--dump-features", dir + "/c\(seed)",
        ])
      XCTAssertEqual(untrained.status, 0, untrained.stderr)
      XCTAssertEqual(saved.status, 0, saved.stderr)
      for name in ["trainfeat", "testfeat"] {
        let a = try SafeTensors.read(contentsOf: dir + "/u\(seed)/\(name).safetensors")
        let b = try SafeTensors.read(contentsOf: dir + "/c\(seed)/\(name).safetensors")
        XCTAssertEqual(a.tensors["features"], b.tensors["features"], "\(name) seed \(seed)")
      }
    }
    let pixels = try DinoTool.run(
      "dino-run",
      [
        "knn", plan, "--pixels", "--train", train, "--val", val, "--k", "1",
        "--threads", "1", "--dump-features", dir + "/p",
      ])
    XCTAssertEqual(pixels.status, 0, pixels.stderr)
    let extractor = try FeatureExtractor(graph: graph)
    let folder = try ImageFolder(path: val)
    var expected: [Float] = []
    for path in folder.paths {
      expected += try extractor.transform.apply(
        try Image(contentsOf: path, channels: extractor.transform.channels))
    }
    let per = extractor.transform.floatsPerImage
    KNNClassifier.l2Normalize(&expected, dim: per)
    let dumped = try SafeTensors.read(contentsOf: dir + "/p/testfeat.safetensors")
    XCTAssertEqual(dumped.tensors["features"]?.shape, [folder.count, per])
    XCTAssertEqual(dumped.tensors["features"]?.floats, expected)
    for bad in [["--pixels", "--untrained"], []] {
      let result = try DinoTool.run(
        "dino-run", ["knn", plan, "--train", train, "--val", val] + bad)
      XCTAssertEqual(result.status, 1)
      XCTAssertTrue(
        result.stderr.contains("give one of --checkpoint FILE, --untrained and --pixels"),
        result.stderr)
    }
  }

  /// A file that is not a feature file, a missing partner file and mixed sources are one
  /// line each.
  func testFeatureFileErrors() throws {
    let dir = try temporaryDirectory()
    try SafeTensors(tensors: ["x": HostTensor(shape: [1], floats: [1])]).write(
      to: dir + "/other.safetensors")
    for (arguments, text) in [
      (
        [
          "--train-features", dir + "/other.safetensors", "--val-features",
          dir + "/other.safetensors",
        ], "not a feature file"
      ),
      (["--train-features", dir + "/other.safetensors"], "give both"),
      (
        ["--train-features", dir + "/a", "--val-features", dir + "/b", "--train", dir],
        "replace --checkpoint"
      ),
    ] {
      let result = try DinoTool.run("dino-run", ["knn"] + arguments)
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertTrue(result.stderr.contains(text), "\"\(result.stderr)\" lacks \"\(text)\"")
      XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    }
  }
}

/// Reads a plan, any failure thrown.
func loadPlanGraph(_ path: String) throws -> DinoIR.Graph {
  try DinoPlan.PlanReader.read(contentsOf: path)
}
