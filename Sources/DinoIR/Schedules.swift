import Foundation

/// DINO's per-iteration schedules, with the official formulas and their endpoint quirks
/// (REFERENCE-DINO.md §4.4, §5.1): the runtime feeds each step's values as scalar inputs.
public struct TrainingSchedules: Sendable {
  /// Epochs of training.
  public let epochs: Int
  /// Iterations (steps) per epoch.
  public let iterationsPerEpoch: Int
  /// Peak learning rate after linear scaling: lr · batch · world / 256.
  public let peakLR: Double
  private let lrValues: [Double]
  private let wdValues: [Double]
  private let momentumValues: [Double]
  private let teacherTempValues: [Double]
  private let freezeLastLayerEpochs: Int

  /// Builds the schedules from the plan's hyper-parameters.
  ///
  /// - Parameters:
  ///   - hyper: `Graph.hyper` (keys lr, min_lr, batch, epochs, warmup_epochs, weight_decay,
  ///     weight_decay_end, momentum_teacher, teacher_temp, warmup_teacher_temp,
  ///     warmup_teacher_temp_epochs, freeze_last_layer).
  ///   - iterationsPerEpoch: steps per epoch (⌊N / batch⌋ with drop_last).
  ///   - worldSize: processes training together (1 on one machine).
  /// - Throws: `CompileError` when a key is missing or the values are inconsistent.
  public init(hyper: [String: Double], iterationsPerEpoch: Int, worldSize: Int = 1)
    throws(CompileError)
  {
    func value(_ key: String) throws(CompileError) -> Double {
      guard let v = hyper[key] else {
        throw CompileError("schedule: the plan has no hyper-parameter '\(key)'")
      }
      return v
    }
    let epochs = Int(try value("epochs"))
    let warmup = Int(try value("warmup_epochs"))
    let ttWarmup = Int(try value("warmup_teacher_temp_epochs"))
    guard epochs > 0, iterationsPerEpoch > 0 else {
      throw CompileError("schedule: epochs (\(epochs)) and iterations per epoch (\(iterationsPerEpoch)) must be positive")
    }
    guard warmup >= 0, warmup <= epochs else {
      throw CompileError("schedule: warmup_epochs \(warmup) must be within 0...epochs (\(epochs))")
    }
    guard ttWarmup >= 0, ttWarmup <= epochs else {
      throw CompileError("schedule: warmup_teacher_temp_epochs \(ttWarmup) exceeds epochs \(epochs)")
    }
    self.epochs = epochs
    self.iterationsPerEpoch = iterationsPerEpoch
    let baseLR = try value("lr"), batch = try value("batch")
    peakLR = baseLR * batch * Double(worldSize) / 256
    lrValues = Self.cosine(
      base: peakLR, final: try value("min_lr"), epochs: epochs, iterations: iterationsPerEpoch,
      warmupEpochs: warmup)
    wdValues = Self.cosine(
      base: try value("weight_decay"), final: try value("weight_decay_end"), epochs: epochs,
      iterations: iterationsPerEpoch, warmupEpochs: 0)
    momentumValues = Self.cosine(
      base: try value("momentum_teacher"), final: 1, epochs: epochs,
      iterations: iterationsPerEpoch, warmupEpochs: 0)
    let warmupTemp = try value("warmup_teacher_temp"), temp = try value("teacher_temp")
    teacherTempValues =
      Self.linspace(warmupTemp, temp, ttWarmup) + Array(repeating: temp, count: epochs - ttWarmup)
    freezeLastLayerEpochs = Int(hyper["freeze_last_layer"] ?? 0)
  }

  /// Total iterations: epochs × iterations per epoch.
  public var totalIterations: Int { lrValues.count }

  /// Learning rate at global iteration `it` (warmup from 0, then cosine to min_lr).
  public func lr(_ it: Int) -> Double { lrValues[clamp(it)] }
  /// Weight decay at global iteration `it` (cosine, rising).
  public func weightDecay(_ it: Int) -> Double { wdValues[clamp(it)] }
  /// Teacher EMA momentum at global iteration `it` (cosine to 1).
  public func momentum(_ it: Int) -> Double { momentumValues[clamp(it)] }
  /// Teacher temperature in `epoch` (constant within an epoch).
  public func teacherTemp(epoch: Int) -> Double {
    teacherTempValues[min(max(epoch, 0), teacherTempValues.count - 1)]
  }
  /// 0 while the last layer is frozen (epoch < freeze_last_layer), else 1.
  public func lastLayerGate(epoch: Int) -> Double { epoch < freezeLastLayerEpochs ? 0 : 1 }

  private func clamp(_ it: Int) -> Int { min(max(it, 0), lrValues.count - 1) }

  /// numpy.linspace(start, stop, count), endpoints included.
  static func linspace(_ start: Double, _ stop: Double, _ count: Int) -> [Double] {
    if count <= 0 { return [] }
    if count == 1 { return [start] }
    let step = (stop - start) / Double(count - 1)
    return (0..<count).map { $0 == count - 1 ? stop : start + Double($0) * step }
  }

  /// utils.cosine_scheduler: linear warmup from 0 (both ends included), then a cosine
  /// from `base` over the remaining iterations that never quite reaches `final`.
  static func cosine(base: Double, final: Double, epochs: Int, iterations: Int, warmupEpochs: Int)
    -> [Double]
  {
    let warmupIters = warmupEpochs * iterations
    let rest = epochs * iterations - warmupIters
    let warm = linspace(0, base, warmupIters)
    let cos = (0..<rest).map { j in
      final + 0.5 * (base - final) * (1 + Foundation.cos(Double.pi * Double(j) / Double(rest)))
    }
    return warm + cos
  }

  /// A readable table of the schedules at each epoch start (for `dinoc dump --schedules`).
  public func table() -> String {
    var lines = [
      "schedules: \(epochs) epochs × \(iterationsPerEpoch) iterations, peak lr \(peakLR)",
      "epoch  first-iter  lr            weight_decay  momentum      teacher_temp  last_layer",
    ]
    for epoch in 0..<epochs {
      let it = epoch * iterationsPerEpoch
      func f(_ x: Double) -> String { String(format: "%-13.6g", x) }
      lines.append(
        String(format: "%-6d %-11d ", epoch, it) + f(lr(it)) + " " + f(weightDecay(it)) + " "
          + f(momentum(it)) + " " + f(teacherTemp(epoch: epoch)) + " "
          + (lastLayerGate(epoch: epoch) == 0 ? "frozen" : "trained"))
    }
    return lines.joined(separator: "\n")
  }
}
