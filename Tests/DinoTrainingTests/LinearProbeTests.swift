import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// The linear probe: the probe plan compiled from Samples/linear_probe.swift (gradients by
/// the compiler's autodiff) and dino-run's SGD on it.
final class LinearProbeTests: XCTestCase {
  /// The probe plan for 8 features, 4 classes, batch 16.
  func compileProbe(in dir: String, features: Int = 8, classes: Int = 4) throws -> String {
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    let plan = dir + "/probe.bin"
    let result = try DinoTool.run(
      "dinoc",
      [
        "compile", StepParityTests.packageRoot + "/Samples/linear_probe.swift", "-o", plan,
        "-D", "features=\(features)", "-D", "classes=\(classes)", "-D", "batch=16",
      ])
    guard result.status == 0 else { throw DinoTool.Failure("dinoc: \(result.stderr)") }
    return plan
  }

  /// `n` rows: class c is centred on 2·e_c (first 4 of 8 features) with noise ±0.6 on every
  /// feature; labels cycle through the classes (or are shuffled, independent of the rows).
  func synthetic(_ n: Int, seed: UInt64, shuffled: Bool = false) -> ([Float], [Int32]) {
    let noise = randomFloats(n * 8, seed: seed, scale: 0.6)
    var rows: [Float] = []
    var labels: [Int32] = []
    let random = randomFloats(n, seed: seed + 1000)
    for i in 0..<n {
      let c = i % 4
      rows += (0..<8).map { (($0 == c) ? 2 : 0) + noise[i * 8 + $0] }
      labels.append(shuffled ? Int32(min(3, Int((random[i] + 1) * 2))) : Int32(c))
    }
    return (rows, labels)
  }

  /// The compiled @gradients equals the cross-entropy gradient written out:
  /// dW = (softmax(xWᵀ + b) − y)ᵀ x / B, db = Σ rows (p − y) / B.
  func testCompiledGradientsAreCrossEntropys() throws {
    let dir = try temporaryDirectory()
    let probe = try LinearProbe(graph: try PlanReader.read(contentsOf: try compileProbe(in: dir)))
    try probe.runtime.initializeParameters(seed: 1)
    let w = randomFloats(32, seed: 3, scale: 0.5)
    let b = randomFloats(4, seed: 4, scale: 0.5)
    _ = try probe.runtime.buffer("probe.weight").update(fromContentsOf: w)
    _ = try probe.runtime.buffer("probe.bias").update(fromContentsOf: b)
    let (x, labels) = synthetic(16, seed: 5)
    var targets = [Float](repeating: 0, count: 64)
    for (r, label) in labels.enumerated() { targets[r * 4 + Int(label)] = 1 }
    try probe.runtime.setInput("features", x, program: "gradients")
    try probe.runtime.setInput("targets", targets, program: "gradients")
    try probe.runtime.run("gradients")
    var dW = [Double](repeating: 0, count: 32)
    var db = [Double](repeating: 0, count: 4)
    var loss = 0.0
    for r in 0..<16 {
      let logits = (0..<4).map { k in
        (0..<8).reduce(Double(b[k])) { $0 + Double(w[k * 8 + $1]) * Double(x[r * 8 + $1]) }
      }
      let top = logits.max()!
      let total = logits.reduce(0) { $0 + exp($1 - top) }
      loss -= logits[Int(labels[r])] - top - log(total)
      for k in 0..<4 {
        let delta = exp(logits[k] - top) / total - Double(targets[r * 4 + k])
        db[k] += delta / 16
        for j in 0..<8 { dW[k * 8 + j] += delta * Double(x[r * 8 + j]) / 16 }
      }
    }
    let out = probe.runtime
    let got = try out.output("loss", program: "gradients")[0]
    XCTAssertEqual(Double(got), loss / 16, accuracy: 1e-5)
    for (got, want) in zip(try out.output("grad.probe.weight", program: "gradients"), dW) {
      XCTAssertEqual(Double(got), want, accuracy: 1e-5)
    }
    for (got, want) in zip(try out.output("grad.probe.bias", program: "gradients"), db) {
      XCTAssertEqual(Double(got), want, accuracy: 1e-5)
    }
  }

  /// Linearly separable features: ~100 % top-1 on held-out rows (a short last batch
  /// included: 250 rows at batch 16); shuffled labels: near chance (25 %) on held-out rows.
  func testSeparableAndShuffled() throws {
    let dir = try temporaryDirectory()
    let probe = try LinearProbe(graph: try PlanReader.read(contentsOf: try compileProbe(in: dir)))
    var options = LinearProbe.Options()
    options.epochs = 30
    options.lr = 4
    var losses: [Double] = []
    let (train, labels) = synthetic(250, seed: 11)
    try probe.train(train, labels: labels, options: options) { losses.append($0.loss) }
    XCTAssertEqual(losses.count, 30)
    XCTAssertLessThan(losses.last!, losses.first! / 4)
    let (val, valLabels) = synthetic(400, seed: 12)
    let separable = try probe.accuracy(val, labels: valLabels)
    XCTAssertGreaterThanOrEqual(separable.top1, 99)
    XCTAssertEqual(separable.top5, 100)  // 4 classes: top-5 is every class

    let (noisy, noisyLabels) = synthetic(250, seed: 13, shuffled: true)
    try probe.train(noisy, labels: noisyLabels, options: options)
    let (noisyVal, noisyValLabels) = synthetic(400, seed: 14, shuffled: true)
    let chance = try probe.accuracy(noisyVal, labels: noisyValLabels)
    XCTAssertGreaterThan(chance.top1, 10)
    XCTAssertLessThan(chance.top1, 40)
  }

  /// The learning rate: lr·batch/256 at epoch 0, half of it midway, cosine in between.
  func testSchedule() throws {
    let dir = try temporaryDirectory()
    let probe = try LinearProbe(graph: try PlanReader.read(contentsOf: try compileProbe(in: dir)))
    var options = LinearProbe.Options()
    options.epochs = 10
    options.lr = 0.32
    XCTAssertEqual(probe.learningRate(epoch: 0, options: options), 0.02, accuracy: 1e-12)
    XCTAssertEqual(probe.learningRate(epoch: 5, options: options), 0.01, accuracy: 1e-12)
    XCTAssertEqual(
      probe.learningRate(epoch: 9, options: options), 0.02 * (1 + cos(0.9 * .pi)) / 2,
      accuracy: 1e-12)
  }

  /// `dino-run linear` on a tiny ViT's features of two folders: the result line and JSON;
  /// a probe compiled for another size is one line naming the -D values to use.
  func testCommand() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.initialize(seed: 2)
    try trainer.saveCheckpoint(to: dir + "/ckpt.safetensors", epoch: 0, step: 0)
    let train = try writeGreyFolder(dir + "/train", classes: ["a", "b"], perClass: 6, seed: 1)
    let val = try writeGreyFolder(dir + "/val", classes: ["a", "b"], perClass: 3, seed: 2)
    let probe = try compileProbe(in: dir, features: 16, classes: 2)
    let common = [
      plan, "--probe", probe, "--checkpoint", dir + "/ckpt.safetensors", "--train",
      train, "--val", val, "--threads", "1",
    ]
    let result = try DinoTool.run(
      "dino-run", ["linear"] + common + ["--epochs", "5", "--lr", "1", "-o", dir + "/r.json"])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertTrue(result.stdout.contains("Linear probe result: Top1: "), result.stdout)
    let json =
      try JSONSerialization.jsonObject(
        with: Data(contentsOf: URL(fileURLWithPath: dir + "/r.json"))) as! [String: Any]
    XCTAssertEqual(json["val_images"] as? Int, 6)
    XCTAssertEqual(json["epochs"] as? Int, 5)
    XCTAssertTrue((0...100).contains(json["top1"] as! Double))
    XCTAssertEqual((json["runs"] as? [Any])?.count, 1)

    let sweep = try DinoTool.run(
      "dino-run", ["linear"] + common + ["--epochs", "2", "--lr", "0.1,1,3"])
    XCTAssertEqual(sweep.status, 0, sweep.stderr)
    XCTAssertEqual(sweep.stdout.split(separator: "\n").filter { $0.hasPrefix("lr ") }.count, 3)
    XCTAssertTrue(sweep.stdout.contains("Linear probe result: Top1: "), sweep.stdout)

    let wrong = try compileProbe(in: dir + "/w", features: 8, classes: 4)
    var arguments = common
    arguments[2] = wrong
    let bad = try DinoTool.run("dino-run", ["linear"] + arguments)
    XCTAssertEqual(bad.status, 1)
    XCTAssertTrue(bad.stderr.contains("-D features=16 -D classes=2"), bad.stderr)
    XCTAssertEqual(bad.stderr.filter { $0 == "\n" }.count, 1, bad.stderr)
  }
}
