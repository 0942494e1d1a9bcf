import DinoData
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run attention` and its extractor on the tiny one-block ViT of `TrainTests.tiny`
/// (dim 16, 2 heads, patch 4, 16×16 grey images: 16 patches).
final class AttentionTests: XCTestCase {
  /// A plan and a checkpoint whose teacher weights are all random (known, not init values).
  func makePlanAndCheckpoint(in dir: String) throws -> (plan: String, checkpoint: String) {
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.initialize(seed: 5)
    for (i, name) in trainer.teacherBuffers.enumerated() {
      let buffer = try trainer.runtime.buffer(name)
      let values = randomFloats(buffer.count, seed: UInt64(100 + i), scale: 0.5)
      _ = buffer.update(fromContentsOf: values)
    }
    let checkpoint = dir + "/ckpt.safetensors"
    try trainer.saveCheckpoint(to: checkpoint, epoch: 0, step: 0)
    return (plan, checkpoint)
  }

  /// The CLS attention of a one-block ViT computed directly in Double from the weights:
  /// tokens = [cls; conv patches] + pos, LayerNorm (eps 1e-6), q and k from qkv, softmax of
  /// q_cls·k_j/√hd over all keys, the CLS key's own weight dropped.
  func directAttention(image: [Float], weights w: SafeTensors) -> [Double] {
    let (dim, heads, patch, side) = (16, 2, 4, 16)
    let grid = side / patch
    let hd = dim / heads
    func t(_ name: String) -> [Double] {
      w.tensors["teacher.backbone." + name]!.floats.map(Double.init)
    }
    let (cls, pos, pw, pb) = (
      t("cls_token"), t("pos_embed"), t("patch_embed.proj.weight"),
      t("patch_embed.proj.bias")
    )
    let (g1, b1, qkvW, qkvB) = (
      t("blocks.0.norm1.weight"), t("blocks.0.norm1.bias"),
      t("blocks.0.attn.qkv.weight"), t("blocks.0.attn.qkv.bias")
    )
    var tokens = [[Double]]()
    tokens.append((0..<dim).map { cls[$0] + pos[$0] })
    for r in 0..<grid {
      for c in 0..<grid {
        tokens.append(
          (0..<dim).map { d in
            var sum = pb[d]
            for i in 0..<patch {
              for j in 0..<patch {
                sum +=
                  pw[d * patch * patch + i * patch + j]
                  * Double(image[(r * patch + i) * side + c * patch + j])
              }
            }
            return sum + pos[(1 + r * grid + c) * dim + d]
          })
      }
    }
    let normed = tokens.map { x -> [Double] in
      let mean = x.reduce(0, +) / Double(dim)
      let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(dim)
      return (0..<dim).map { (x[$0] - mean) / (variance + 1e-6).squareRoot() * g1[$0] + b1[$0] }
    }
    func project(_ x: [Double], row: Int) -> Double {
      (0..<dim).reduce(qkvB[row]) { $0 + qkvW[row * dim + $1] * x[$1] }
    }
    var result: [Double] = []
    for h in 0..<heads {
      let q = (0..<hd).map { project(normed[0], row: h * hd + $0) }
      let scores = normed.map { x in
        (0..<hd).reduce(0.0) { $0 + q[$1] * project(x, row: dim + h * hd + $1) }
          / Double(hd).squareRoot()
      }
      let top = scores.max()!
      let exps = scores.map { exp($0 - top) }
      let total = exps.reduce(0, +)
      result += exps.dropFirst().map { $0 / total }
    }
    return result
  }

  /// The extractor's maps equal the direct computation for three images (a padded second
  /// batch included), for the teacher; --student-style loading takes student.* instead.
  func testAttentionEqualsDirectComputation() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makePlanAndCheckpoint(in: dir)
    let extractor = try AttentionExtractor(graph: try PlanReader.read(contentsOf: plan))
    XCTAssertEqual([extractor.heads, extractor.patches, extractor.imageSize], [2, 16, 16])
    try extractor.loadWeights(contentsOf: checkpoint)
    let images = (0..<3).map { randomFloats(256, seed: UInt64(7 + $0)) }
    let maps = try extractor.attention(images.flatMap { $0 })
    XCTAssertEqual(maps.count, 3 * 2 * 16)
    let weights = try SafeTensors.read(contentsOf: checkpoint)
    for (i, image) in images.enumerated() {
      let expected = directAttention(image: image, weights: weights)
      for (j, value) in expected.enumerated() {
        XCTAssertEqual(Double(maps[i * 32 + j]), value, accuracy: 1e-5, "image \(i) entry \(j)")
      }
    }
    try extractor.loadWeights(contentsOf: checkpoint, source: .student)
    XCTAssertNotEqual(try extractor.attention(images[0]), Array(maps[0..<32]))
  }

  /// Two images with --threshold: a PNG of the expected size with 1 + 2 panels per row and
  /// 2 rows per image; without --threshold one row per image; --size sets the panel.
  func testCommandWritesThePicture() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makePlanAndCheckpoint(in: dir)
    let images = try writeGreyFolder(dir + "/images", classes: ["a", "b"], perClass: 1, seed: 3)
    let files = [images + "/a/0.png", images + "/b/0.png"]
    let out = dir + "/attn.png"
    let run = try DinoTool.run(
      "dino-run",
      ["attention", plan, "--checkpoint", checkpoint, "--image"] + files
        + ["-o", out, "--threshold", "0.6", "--threads", "1"])
    XCTAssertEqual(run.status, 0, run.stderr)
    XCTAssertTrue(run.stdout.contains("2 image(s) × 2 heads"), run.stdout)
    let panel = 112  // 16 enlarged ×7 to at least 112
    let picture = try Image(contentsOf: out)
    XCTAssertEqual(picture.width, 4 + panel + 16 + 2 * (panel + 4))
    XCTAssertEqual(picture.height, 4 + 4 * (panel + 4))
    XCTAssertEqual(picture.channels, 3)

    let small = try DinoTool.run(
      "dino-run",
      [
        "attention", plan, "--checkpoint", checkpoint, "--image", files[0], "-o", out,
        "--size", "30", "--student",
      ])
    XCTAssertEqual(small.status, 0, small.stderr)
    let one = try Image(contentsOf: out)
    XCTAssertEqual([one.width, one.height], [4 + 28 + 16 + 2 * 32, 4 + 32])  // 30 → 28 (4×7)
  }

  /// A file that is no image, a missing file, no --image, a bad threshold and a checkpoint
  /// without weights are one line each, exit status 1.
  func testCommandErrors() throws {
    let dir = try temporaryDirectory()
    let (plan, checkpoint) = try makePlanAndCheckpoint(in: dir)
    try Data("not an image".utf8).write(to: URL(fileURLWithPath: dir + "/notes.png"))
    let images = try writeGreyFolder(dir + "/images", classes: ["a"], perClass: 1, seed: 3)
    let good = images + "/a/0.png"
    try Data().write(to: URL(fileURLWithPath: dir + "/empty.safetensors"))
    for (arguments, text) in [
      (["--checkpoint", checkpoint, "--image", dir + "/notes.png"], "notes.png: "),
      (["--checkpoint", checkpoint, "--image", dir + "/absent.png"], "absent.png: "),
      (["--checkpoint", checkpoint], "at least one --image"),
      (["--checkpoint", checkpoint, "--image", good, "--threshold", "1.5"], "--threshold"),
      (["--checkpoint", dir + "/none.safetensors", "--image", good], "does not exist"),
    ] {
      let result = try DinoTool.run(
        "dino-run", ["attention", plan, "-o", dir + "/a.png"] + arguments)
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertTrue(result.stderr.hasPrefix("dino-run: error: "), result.stderr)
      XCTAssertTrue(result.stderr.contains(text), "\"\(result.stderr)\" lacks \"\(text)\"")
      XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    }
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/a.png"))
  }
}
