import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run export` (official state-dict names and shapes) and the way back (`--init`).
final class ExportTests: XCTestCase {
  /// TrainTests.tiny with two blocks: the size of the stored official key list.
  static let twoBlocks = TrainTests.tiny.map { $0 == "depth=1" ? "depth=2" : $0 }

  /// The fixture: `name shape` lines from the official VisionTransformer's state_dict.
  func officialKeys() throws -> [String: [Int]] {
    let text = try String(
      contentsOfFile: StepParityTests.packageRoot
        + "/Tests/DinoTrainingTests/Reference/vit_keys.txt", encoding: .utf8)
    var keys: [String: [Int]] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
      let parts = line.split(separator: " ")
      keys[String(parts[0])] = parts[1].split(separator: ",").map { Int($0)! }
    }
    return keys
  }

  /// A plan of the fixture's size and a checkpoint whose student and teacher differ.
  func makeCheckpoint(in dir: String) throws -> (plan: String, checkpoint: String) {
    let plan = try StepParityTests.compile(Self.twoBlocks, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.initialize(seed: 4)
    for (i, name) in trainer.teacherBuffers.enumerated() {
      let buffer = try trainer.runtime.buffer(name)
      _ = buffer.update(fromContentsOf: randomFloats(buffer.count, seed: UInt64(50 + i)))
    }
    let checkpoint = dir + "/ckpt.safetensors"
    try trainer.saveCheckpoint(to: checkpoint, epoch: 0, step: 0)
    return (plan, checkpoint)
  }

  /// The exported key set and shapes equal the official ones; the tensors are the
  /// teacher's (or, with --student, the student's) bit for bit; the metadata holds the
  /// architecture.
  func testKeysShapesAndMetadata() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makeCheckpoint(in: dir)
    let result = try DinoTool.run(
      "dino-run", ["export", plan, "--checkpoint", checkpoint, "-o", dir + "/b.safetensors"])
    XCTAssertEqual(result.status, 0, result.stderr)
    let file = try SafeTensors.read(contentsOf: dir + "/b.safetensors")
    let official = try officialKeys()
    XCTAssertEqual(official.count, 30)
    XCTAssertEqual(Set(file.tensors.keys), Set(official.keys))
    for (name, shape) in official { XCTAssertEqual(file.tensors[name]?.shape, shape, name) }
    let weights = try SafeTensors.read(contentsOf: checkpoint)
    for (name, tensor) in file.tensors {
      XCTAssertEqual(tensor, weights.tensors["teacher.backbone." + name], name)
    }
    let m = file.metadata
    XCTAssertEqual(
      [
        m["format"], m["img_size"], m["patch_size"], m["in_chans"], m["embed_dim"], m["depth"],
        m["num_heads"], m["mlp_ratio"], m["qkv_bias"], m["source"],
      ],
      ["dino-backbone", "16", "4", "1", "16", "2", "2", "4.0", "True", "teacher"])

    let student = try DinoTool.run(
      "dino-run",
      ["export", plan, "--checkpoint", checkpoint, "-o", dir + "/s.safetensors", "--student"])
    XCTAssertEqual(student.status, 0, student.stderr)
    let studentFile = try SafeTensors.read(contentsOf: dir + "/s.safetensors")
    XCTAssertEqual(
      studentFile.tensors["norm.weight"], weights.tensors["student.backbone.norm.weight"])
  }

  /// export then `step --init backbone` with lr 0, weight decay 0 and momentum 1 (so the
  /// step changes nothing): both backbones equal the file bit for bit, the heads are the
  /// init specs' of --seed, the center is zeros. In process, `loadWeights` does the same.
  func testExportThenInitReproducesTheBackbone() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makeCheckpoint(in: dir)
    let backbone = dir + "/b.safetensors"
    _ = try DinoTool.run("dino-run", ["export", plan, "--checkpoint", checkpoint, "-o", backbone])
    let file = try SafeTensors.read(contentsOf: backbone)

    let trainer = try DINOTrainer(plan: plan)
    let sources = try trainer.loadWeights(contentsOf: backbone, seed: 8)
    XCTAssertTrue(sources.backboneOnly)
    let fresh = try DINOTrainer(plan: plan)
    try fresh.initialize(seed: 8)
    for name in trainer.studentBuffers + trainer.teacherBuffers {
      let got = Array(try trainer.runtime.buffer(name))
      if let range = name.range(of: ".backbone.") {
        let official = String(name[range.upperBound...])
        XCTAssertEqual(got, file.tensors[official]!.floats, name)
      } else {
        XCTAssertEqual(got, Array(try fresh.runtime.buffer(name)), name)
      }
    }

    var crops: [String: HostTensor] = [:]
    for (v, size) in [16, 16, 8, 8].enumerated() {
      crops["crop\(v)"] = HostTensor(
        shape: [2, 1, size, size], floats: randomFloats(2 * size * size, seed: UInt64(v + 1)))
    }
    try SafeTensors(tensors: crops).write(to: dir + "/crops.safetensors")
    let step = try DinoTool.run(
      "dino-run",
      [
        "step", plan, "--init", backbone, "--crops", dir + "/crops.safetensors", "-o",
        dir + "/after.safetensors", "--lr", "0", "--wd", "0", "--momentum", "1", "--seed", "8",
        "--threads", "1",
      ])
    XCTAssertEqual(step.status, 0, step.stderr)
    let after = try SafeTensors.read(contentsOf: dir + "/after.safetensors")
    for (name, tensor) in file.tensors {
      XCTAssertEqual(after.tensors["student.backbone." + name], tensor, name)
      XCTAssertEqual(after.tensors["teacher.backbone." + name], tensor, name)
    }
    XCTAssertEqual(
      after.tensors["student.head.mlp.0.weight"]?.floats,
      Array(try fresh.runtime.buffer("student.head.mlp.0.weight")))
  }

  /// `dino-run train --init backbone` trains from the file: after one short epoch the
  /// teacher's backbone is still next to the file's (and far from an init-spec start).
  func testTrainFromABackbone() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makeCheckpoint(in: dir)
    let backbone = dir + "/b.safetensors"
    _ = try DinoTool.run("dino-run", ["export", plan, "--checkpoint", checkpoint, "-o", backbone])
    let images = try writeGreyFolder(dir + "/images", classes: ["a", "b"], perClass: 2, seed: 5)
    var teachers: [HostTensor?] = []
    for (name, extra) in [("from", ["--init", backbone]), ("fresh", [])] {
      let run = try DinoTool.run(
        "dino-run",
        [
          "train", plan, "--data", images, "--epochs", "1", "--threads", "1", "--workers", "1",
          "--output", dir + "/" + name,
        ] + extra)
      XCTAssertEqual(run.status, 0, run.stderr)
      let after = try SafeTensors.read(contentsOf: dir + "/" + name + "/checkpoint.safetensors")
      teachers.append(after.tensors["teacher.backbone.pos_embed"])
    }
    // Warmup lr and EMA keep the teacher near its start: the file's, not the init specs'.
    let start = try SafeTensors.read(contentsOf: backbone).tensors["pos_embed"]!.floats
    func distance(_ tensor: HostTensor?) -> Float {
      zip(tensor!.floats, start).map { abs($0 - $1) }.max()!
    }
    XCTAssertLessThan(distance(teachers[0]), 1e-3)
    XCTAssertGreaterThan(distance(teachers[1]), 0.1)
  }

  /// A backbone of another size, or with a foreign tensor, is one line for --init.
  func testInitRejectsOtherBackbones() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makeCheckpoint(in: dir)
    let backbone = dir + "/b.safetensors"
    _ = try DinoTool.run("dino-run", ["export", plan, "--checkpoint", checkpoint, "-o", backbone])
    var file = try SafeTensors.read(contentsOf: backbone)
    try FileManager.default.createDirectory(
      atPath: dir + "/small", withIntermediateDirectories: true)
    let small = try StepParityTests.compile(TrainTests.tiny, in: dir + "/small")
    XCTAssertThrowsError(try DINOTrainer(plan: small).loadWeights(file)) { error in
      XCTAssertTrue("\(error)".contains("'blocks.1."), "\(error)")
    }
    file.tensors["head.weight"] = HostTensor(shape: [1], floats: [0])
    XCTAssertThrowsError(try DINOTrainer(plan: plan).loadWeights(file)) { error in
      XCTAssertTrue("\(error)".contains("'head.weight' is not a backbone tensor"), "\(error)")
    }
  }
}
