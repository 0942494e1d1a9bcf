import DinoIR
import DinoRandom
import DinoRuntime
import Foundation

/// Official DINO's linear evaluation (eval_linear.py) on precomputed, frozen features: a
/// linear layer over a probe plan (`Samples/linear_probe.swift`: program `gradients`, whose
/// `loss` is the mean softmax cross-entropy and whose `grad.probe.weight` /
/// `grad.probe.bias` the compiler's autodiff appends, and program `logits`), trained with
/// SGD (momentum 0.9, dampening 0, weight decay 0, as `torch.optim.SGD`) applied here to
/// the plan's parameter buffers, the learning rate `lr · batch / 256` following a cosine
/// from its start to 0 over the epochs (`CosineAnnealingLR(eta_min=0)` stepped per epoch).
/// Each epoch visits the training rows in a fresh order drawn from (seed, epoch); a short
/// last batch counts only its real rows.
public final class LinearProbe {
  /// The probe plan's runtime.
  public let runtime: Runtime
  /// Rows per program run.
  public let batch: Int
  /// Features per row.
  public let features: Int
  /// Classes.
  public let classes: Int
  /// The trained parameters (`probe.weight` [classes, features], `probe.bias` [classes]).
  public static let parameters = ["probe.weight", "probe.bias"]

  /// Training settings.
  public struct Options: Sendable {
    /// Passes over the training rows (official: 100).
    public var epochs = 100
    /// Base learning rate, scaled by batch / 256 (official: 0.001).
    public var lr = 0.001
    /// SGD momentum (official: 0.9).
    public var momentum = 0.9
    /// Seed of the parameter init and the row order.
    public var seed: UInt64 = 0
    /// Creates the official settings.
    public init() {}
  }

  /// One epoch's summary.
  public struct Epoch: Sendable {
    /// Epoch index, from 0.
    public var epoch: Int
    /// The learning rate used.
    public var lr: Double
    /// Mean training loss over its rows.
    public var loss: Double
  }

  /// Loads a probe plan (a planned graph).
  /// - Throws: one line when the plan is not a linear-probe plan.
  public init(graph: Graph, threads: Int = 1) throws(RuntimeError) {
    let bad = RuntimeError(
      "the probe plan must have @gradients (features [B,F], targets [B,K] → loss, "
        + "grad.probe.weight, grad.probe.bias) and @logits (features → logits [B,K]): "
        + "compile Samples/linear_probe.swift")
    guard graph.program("gradients") != nil, graph.program("logits") != nil else { throw bad }
    runtime = try Runtime(graph: graph, threads: threads)
    let inputs = try runtime.inputs(of: "gradients")
    guard let x = inputs.first(where: { $0.name == "features" })?.type, x.rank == 2,
      let t = inputs.first(where: { $0.name == "targets" })?.type, t.rank == 2,
      t.shape[0] == x.shape[0], inputs.count == 2
    else { throw bad }
    let outputs = Set(try runtime.outputs(of: "gradients").map(\.name))
    guard outputs.isSuperset(of: ["loss"] + Self.parameters.map { "grad." + $0 }),
      try runtime.inputs(of: "logits").map(\.type) == [x],
      try runtime.outputs(of: "logits").first(where: { $0.name == "logits" })?.type.shape
        == [x.shape[0], t.shape[1]]
    else { throw bad }
    batch = x.shape[0]
    features = x.shape[1]
    classes = t.shape[1]
  }

  /// The learning rate of `epoch`: `lr · batch/256 · (1 + cos(π·epoch/epochs)) / 2`.
  public func learningRate(epoch: Int, options: Options) -> Double {
    let base = options.lr * Double(batch) / 256
    return base * (1 + cos(Double.pi * Double(epoch) / Double(options.epochs))) / 2
  }

  /// Initialises the layer (weight normal σ 0.01, bias 0) with `options.seed` and trains it.
  /// - Parameters:
  ///   - data: training rows [n, features] and labels in 0..<classes.
  ///   - report: receives each epoch's summary.
  public func train(
    _ data: [Float], labels: [Int32], options: Options, report: (Epoch) -> Void = { _ in }
  ) throws(RuntimeError) {
    try check(data, labels)
    guard options.epochs >= 1 else { throw RuntimeError("--epochs must be at least 1") }
    guard options.lr > 0, options.lr.isFinite else { throw RuntimeError("--lr must be positive") }
    guard (0..<1).contains(options.momentum) else {
      throw RuntimeError("--momentum must be in [0, 1)")
    }
    try runtime.initializeParameters(seed: options.seed)
    let params = try Self.parameters.map { name throws(RuntimeError) in try runtime.buffer(name) }
    var velocity = params.map { [Float](repeating: 0, count: $0.count) }
    let x = try runtime.inputBuffer("features", program: "gradients").bindMemory(to: Float.self)
    let t = try runtime.inputBuffer("targets", program: "gradients").bindMemory(to: Float.self)
    let n = labels.count
    for epoch in 0..<options.epochs {
      let lr = Float(learningRate(epoch: epoch, options: options))
      let order = Self.permutation(n, seed: options.seed, epoch: epoch)
      var lossSum = 0.0
      var start = 0
      while start < n {
        let count = min(batch, n - start)
        let weight = Float(batch) / Float(count)
        t.update(repeating: 0)
        for r in 0..<count {
          let row = order[start + r]
          _ = UnsafeMutableBufferPointer(rebasing: x[r * features..<(r + 1) * features])
            .update(fromContentsOf: data[row * features..<(row + 1) * features])
          t[r * classes + Int(labels[row])] = weight
        }
        if count < batch { x[(count * features)...].update(repeating: 0) }
        try runtime.run("gradients")
        lossSum += Double(try runtime.output("loss", program: "gradients")[0]) * Double(count)
        for (i, name) in Self.parameters.enumerated() {
          let grad = try runtime.output("grad." + name, program: "gradients")
          let m = Float(options.momentum)
          for j in grad.indices {
            velocity[i][j] = m * velocity[i][j] + grad[j]
            params[i][j] -= lr * velocity[i][j]
          }
        }
        start += count
      }
      let mean = lossSum / Double(n)
      guard mean.isFinite else {
        throw RuntimeError("the probe's loss is not finite at epoch \(epoch): lower --lr")
      }
      report(Epoch(epoch: epoch, lr: Double(lr), loss: mean))
    }
  }

  /// The logits [n, classes] of rows [n, features].
  public func logits(_ data: [Float]) throws(RuntimeError) -> [Float] {
    guard data.count % features == 0 else {
      throw RuntimeError("\(data.count) floats are not rows of \(features) features")
    }
    return try runtime.runBatched(
      "logits", input: "features", output: "logits", rows: data, rowFloats: features,
      batch: batch, outFloatsPerRow: classes)
  }

  /// Top-1 and top-5 accuracy in percent (top-5 counts the first min(5, classes) classes;
  /// equal logits rank the lower class first).
  public func accuracy(_ data: [Float], labels: [Int32]) throws(RuntimeError)
    -> (top1: Double, top5: Double)
  {
    try check(data, labels)
    let scores = try logits(data)
    var top1 = 0
    var top5 = 0
    for (r, label) in labels.enumerated() {
      let row = scores[r * classes..<(r + 1) * classes]
      let target = row[r * classes + Int(label)]
      // Rank of the label: classes scoring higher, or equal with a lower index.
      let rank = (0..<classes).filter { c in
        let s = row[r * classes + c]
        return s > target || (s == target && c < Int(label))
      }.count
      if rank == 0 { top1 += 1 }
      if rank < min(5, classes) { top5 += 1 }
    }
    let n = Double(labels.count)
    return (Double(top1) * 100 / n, Double(top5) * 100 / n)
  }

  /// Rows of `features` floats and labels within the classes.
  private func check(_ data: [Float], _ labels: [Int32]) throws(RuntimeError) {
    guard !labels.isEmpty, data.count == labels.count * features else {
      throw RuntimeError(
        "the probe takes rows of \(features) features; got \(data.count) floats for "
          + "\(labels.count) labels")
    }
    guard labels.allSatisfy({ $0 >= 0 && Int($0) < classes }) else {
      throw RuntimeError("a label is outside the probe's \(classes) classes")
    }
  }

  /// A permutation of 0..<n drawn from (seed, epoch): Fisher–Yates over splitmix64.
  static func permutation(_ n: Int, seed: UInt64, epoch: Int) -> [Int] {
    var order = Array(0..<n)
    var stream = SplitMix64(
      seed: seed ^ (UInt64(epoch) &* CounterRandom.gamma) ^ 0x6C69_6E65_6172)
    for i in stride(from: n - 1, to: 0, by: -1) {
      let j = Int(stream.next() % UInt64(i + 1))
      order.swapAt(i, j)
    }
    return order
  }
}
