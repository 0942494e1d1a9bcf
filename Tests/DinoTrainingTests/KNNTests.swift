import DinoData
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// The weighted k-NN classifier on hand-made features, and `dino-run knn` end to end on a
/// tiny ViT and a generated two-class folder.
final class KNNTests: XCTestCase {
  /// score_c = Σ_j [y_j = c]·exp(s_j/T), exactly; classes without neighbours score 0.
  func testClassScores() {
    let scores = KNNClassifier.classScores(
      similarities: [0.5, 0.25, 0.5], labels: [1, 0, 1], classCount: 3, temperature: 0.5)
    XCTAssertEqual(scores, [exp(0.5), 2 * exp(1.0), 0])
    XCTAssertEqual(KNNClassifier.ranking(scores), [1, 0, 2])
  }

  /// Equal similarities keep training order; equal scores rank the lower class first.
  func testTies() {
    let row: [Float] = [0.5, 0.9, 0.5, 0.9, 0.1]
    let nearest = row.withUnsafeBufferPointer { KNNClassifier.nearest($0, k: 4) }
    XCTAssertEqual(nearest.map(\.index), [1, 3, 0, 2])
    XCTAssertEqual(nearest.map(\.similarity), [0.9, 0.9, 0.5, 0.5])
    let clamped = row.withUnsafeBufferPointer { KNNClassifier.nearest($0, k: 99) }
    XCTAssertEqual(clamped.map(\.index), [1, 3, 0, 2, 4])
    XCTAssertEqual(KNNClassifier.ranking([1, 2, 2, 0, 2]), [1, 2, 4, 0, 3])
  }

  /// Two training points of class 0 ([1,0], [1,1]) and one of class 1 ([0,1]); test A
  /// [1, 0.1] is class 0, test B [0.1, 1] is labelled 0 although its nearest neighbour is
  /// class 1. With T = 1 the three votes give B to class 0 (e^0.0995 + e^0.778 > e^0.995);
  /// with T = 0.07 class 1 wins. Features are L2-normalised (the scale of [1,1] is free).
  func testAccuracies() throws {
    let classifier = try KNNClassifier(
      features: [2, 0, 0, 3, 5, 5], labels: [0, 1, 0], dim: 2, classCount: 2)
    let test: [Float] = [1, 0.1, 0.1, 1]
    let warm = try classifier.evaluate(
      testFeatures: test, testLabels: [0, 0], ks: [1, 3, 10], temperature: 1)
    XCTAssertEqual(warm.map(\.top1), [50, 100, 100])  // k = 10 clamps to 3
    XCTAssertEqual(warm.map(\.top5), [50, 100, 100])  // top-5 of 2 classes at k ≥ 2
    let cold = try classifier.evaluate(
      testFeatures: test, testLabels: [0, 0], ks: [3], temperature: 0.07)
    XCTAssertEqual(cold.map(\.top1), [50])
    XCTAssertEqual(cold.map(\.top5), [100])
    XCTAssertEqual(cold[0].line, "3-NN classifier result: Top1: 50.00, Top5: 100.00")
  }

  /// Any chunk size gives the same result (the official N_test < 100 chunk 0 is guarded),
  /// and the similarity GEMM agrees with a plain loop on random data.
  func testChunksAndManyClasses() throws {
    var state: UInt64 = 7
    func next() -> Float {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      return Float(state >> 40) / Float(1 << 24) - 0.5
    }
    let (n, m, dim, classes) = (53, 17, 6, 7)
    let train = (0..<n * dim).map { _ in next() }
    let labels = (0..<n).map { Int32($0 % classes) }
    let test = (0..<m * dim).map { _ in next() }
    let testLabels = (0..<m).map { Int32(($0 * 3) % classes) }
    let classifier = try KNNClassifier(
      features: train, labels: labels, dim: dim, classCount: classes)
    let whole = try classifier.evaluate(
      testFeatures: test, testLabels: testLabels, ks: [1, 5, 20])
    for chunk in [1, 4, 100] {
      let chunked = try classifier.evaluate(
        testFeatures: test, testLabels: testLabels, ks: [1, 5, 20], chunk: chunk)
      XCTAssertEqual(chunked, whole, "chunk \(chunk)")
    }
    // Reference: plain loops in Double.
    var normTrain = train
    var normTest = test
    KNNClassifier.l2Normalize(&normTrain, dim: dim)
    KNNClassifier.l2Normalize(&normTest, dim: dim)
    for (i, k) in [1, 5, 20].enumerated() {
      var top1 = 0
      for r in 0..<m {
        let sims = (0..<n).map { j in
          (0..<dim).reduce(0.0) { $0 + Double(normTest[r * dim + $1] * normTrain[j * dim + $1]) }
        }
        let order = (0..<n).sorted { sims[$0] > sims[$1] }.prefix(k)
        var scores = [Double](repeating: 0, count: classes)
        for j in order { scores[Int(labels[j])] += exp(sims[j] / 0.07) }
        if scores.indices.max(by: { scores[$0] < scores[$1] }) == Int(testLabels[r]) { top1 += 1 }
      }
      XCTAssertEqual(whole[i].top1, Double(top1) * 100 / Double(m), accuracy: 1e-9, "k \(k)")
    }
  }

  /// Bad sizes, labels, k and temperature are one-line errors.
  func testClassifierErrors() throws {
    XCTAssertThrowsError(try KNNClassifier(features: [1, 2], labels: [0], dim: 3, classCount: 1))
    XCTAssertThrowsError(try KNNClassifier(features: [1], labels: [2], dim: 1, classCount: 2))
    XCTAssertThrowsError(try KNNClassifier(features: [], labels: [], dim: 1, classCount: 1))
    let classifier = try KNNClassifier(features: [1], labels: [0], dim: 1, classCount: 1)
    XCTAssertThrowsError(try classifier.evaluate(testFeatures: [1], testLabels: [0], ks: [0]))
    XCTAssertThrowsError(
      try classifier.evaluate(testFeatures: [1], testLabels: [0], ks: [1], temperature: 0))
  }

  /// Writes `count` noisy grey PNGs per class: `bright` (values 180…255) and `dark` (0…75).
  func makeFolder(_ dir: String, perClass: Int, seed: UInt64) throws -> String {
    var state = seed
    for (name, base) in [("bright", 180), ("dark", 0)] {
      try FileManager.default.createDirectory(
        atPath: "\(dir)/\(name)", withIntermediateDirectories: true)
      for i in 0..<perClass {
        let (width, height) = (16 + i, 18 + i)
        let pixels = (0..<width * height).map { _ -> UInt8 in
          state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
          return UInt8(base + Int(state >> 58))
        }
        try Image(width: width, height: height, channels: 1, pixels: pixels).writePNG(
          to: "\(dir)/\(name)/\(i).png")
      }
    }
    return dir
  }

  /// `dino-run knn` on a freshly initialised tiny ViT: one official line per k with
  /// accuracies in [0, 100]; val images that are copies of training images give 1-NN top-1
  /// 100; --limit and --dump-features work; padded last batches give the same features.
  func testKNNCommand() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.initialize(seed: 3)
    try trainer.saveCheckpoint(to: dir + "/ckpt.safetensors", epoch: 0, step: 0)
    let train = try makeFolder(dir + "/train", perClass: 3, seed: 1)
    // val: copies of bright/0, dark/1 and dark/2 (3 images: the last batch of 2 is padded).
    for (name, i) in [("bright", 0), ("dark", 1), ("dark", 2)] {
      try FileManager.default.createDirectory(
        atPath: "\(dir)/val/\(name)", withIntermediateDirectories: true)
      try FileManager.default.copyItem(
        atPath: "\(train)/\(name)/\(i).png", toPath: "\(dir)/val/\(name)/\(i).png")
    }
    let result = try DinoTool.run(
      "dino-run",
      [
        "knn", plan, "--checkpoint", dir + "/ckpt.safetensors", "--train", train, "--val",
        dir + "/val", "--k", "1,3,20", "--threads", "1", "--workers", "1", "--dump-features",
        dir + "/feats",
      ])
    XCTAssertEqual(result.status, 0, result.stderr)
    let lines = result.stdout.split(separator: "\n").filter { $0.contains("-NN classifier") }
    XCTAssertEqual(lines.count, 3, result.stdout)
    XCTAssertTrue(lines[0].hasPrefix("1-NN classifier result: Top1: 100.00, Top5: "), result.stdout)
    for (line, k) in zip(lines, [1, 3, 20]) {
      let numbers = line.split(separator: " ").compactMap {
        Double($0.trimmingCharacters(in: [","]))
      }
      XCTAssertTrue(line.hasPrefix("\(k)-NN classifier result: Top1: "), String(line))
      XCTAssertEqual(numbers.count, 2, String(line))
      XCTAssertTrue(numbers.allSatisfy { (0...100).contains($0) }, String(line))
    }

    let trainFeatures = try SafeTensors.read(contentsOf: dir + "/feats/trainfeat.safetensors")
    let testFeatures = try SafeTensors.read(contentsOf: dir + "/feats/testfeat.safetensors")
    let labels = try SafeTensors.read(contentsOf: dir + "/feats/labels.safetensors")
    XCTAssertEqual(trainFeatures.tensors["features"]?.shape, [6, 16])
    XCTAssertEqual(testFeatures.tensors["features"]?.shape, [3, 16])
    XCTAssertEqual(labels.tensors["train"]?.floats, [0, 0, 0, 1, 1, 1])
    XCTAssertEqual(labels.tensors["test"]?.floats, [0, 1, 1])
    // val row 2 (dark/2, alone in a padded batch) equals train row 5 (dark/2).
    let a = trainFeatures.tensors["features"]!.floats
    let b = testFeatures.tensors["features"]!.floats
    for j in 0..<16 { XCTAssertEqual(b[32 + j], a[80 + j], accuracy: 1e-5) }
    let norm = (0..<16).reduce(Float(0)) { $0 + a[$1] * a[$1] }
    XCTAssertEqual(norm, 1, accuracy: 1e-5)

    let limited = try DinoTool.run(
      "dino-run",
      [
        "knn", plan, "--checkpoint", dir + "/ckpt.safetensors", "--train", train, "--val",
        dir + "/val", "--k", "2", "--threads", "1", "--limit-train", "4", "--limit-val", "1",
      ])
    XCTAssertEqual(limited.status, 0, limited.stderr)
    XCTAssertTrue(
      limited.stdout.contains("Features: 4 train, 1 val, dim 16, 2 classes"), limited.stdout)
    XCTAssertTrue(limited.stdout.contains("2-NN classifier result: Top1: "), limited.stdout)
  }

  /// Missing checkpoint, a checkpoint without teacher weights, differing class lists, an
  /// empty folder and a wrong --batch are one line each, exit status 1.
  func testKNNCommandErrors() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.initialize(seed: 3)
    try trainer.runtime.saveBuffers(
      to: dir + "/student.safetensors", names: trainer.studentBuffers)
    try trainer.saveCheckpoint(to: dir + "/ckpt.safetensors", epoch: 0, step: 0)
    let train = try makeFolder(dir + "/train", perClass: 1, seed: 1)
    let other = try makeFolder(dir + "/other", perClass: 1, seed: 2)
    try FileManager.default.moveItem(atPath: other + "/dark", toPath: other + "/night")
    try FileManager.default.createDirectory(
      atPath: dir + "/empty", withIntermediateDirectories: true)
    let ckpt = dir + "/ckpt.safetensors"
    for (arguments, text) in [
      (["--checkpoint", dir + "/none.safetensors", "--val", train], "does not exist"),
      (["--checkpoint", dir + "/student.safetensors", "--val", train], "no teacher weights"),
      (["--checkpoint", ckpt, "--val", other], "'dark' is only in --train"),
      (["--checkpoint", ckpt, "--val", dir + "/empty"], "--val: no class folders"),
      (["--checkpoint", ckpt, "--val", train, "--batch", "5"], "takes batches of 2"),
      (["--checkpoint", ckpt, "--val", train, "--k", "0"], "--k must be positive"),
    ] {
      let result = try DinoTool.run("dino-run", ["knn", plan, "--train", train] + arguments)
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertTrue(result.stderr.hasPrefix("dino-run: error: "), result.stderr)
      XCTAssertTrue(result.stderr.contains(text), "\"\(result.stderr)\" lacks \"\(text)\"")
      XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
    }
  }
}
