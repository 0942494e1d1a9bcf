import Foundation

/// DINO's per-iteration schedules, with the official formulas and their endpoint quirks
/// (docs/DINO.md §4.4, §5.1): the runtime feeds each step's values as scalar inputs.
///
/// Lengths (`warmup_epochs`, `freeze_last_layer`, `warmup_teacher_temp_epochs`) may be
/// fractions of an epoch: a length of L epochs is round(L × iterationsPerEpoch) iterations.
/// Whole-epoch values give exactly official DINO's arrays: `utils.cosine_scheduler` with a
/// warm-up from 0, the teacher temperature `concat(linspace(warmup_temp, temp, W), temp…)`
/// indexed by epoch, and the last layer frozen while `epoch < freeze_last_layer`. A
/// fractional (or budget-scaled) teacher-temperature warm-up ramps linearly per iteration
/// instead, as DINOv2 does; this departs from v1's per-epoch steps.
///
/// Values are computed per iteration in closed form (nothing is stored), so any length can
/// be described; lengths above `maximumIterations` are refused.
public struct TrainingSchedules: Sendable {
  /// Epochs the schedules span, counting a partial last epoch (⌈total / per epoch⌉).
  public var epochs: Int { (totalIterations + iterationsPerEpoch - 1) / iterationsPerEpoch }
  /// Iterations (steps) per epoch.
  public let iterationsPerEpoch: Int
  /// Iterations of the whole run (the last epoch may be partial).
  public let totalIterations: Int
  /// Peak learning rate after linear scaling: lr · batch · world / 256.
  public let peakLR: Double
  /// Iterations of the linear learning-rate warm-up from 0.
  public let warmupIterations: Int
  /// Iterations during which the head's last layer is frozen.
  public let freezeIterations: Int
  /// Iterations of the teacher-temperature warm-up.
  public let teacherTempWarmupIterations: Int
  /// Whether the teacher temperature steps once per epoch (official v1, whole-epoch
  /// warm-up) rather than per iteration.
  public let teacherTempPerEpoch: Bool
  private let minLR: Double
  private let weightDecayStart: Double
  private let weightDecayEnd: Double
  private let momentumStart: Double
  private let warmupTeacherTemp: Double
  private let teacherTempFinal: Double
  /// Warm-up epochs of the teacher temperature when it steps per epoch.
  private let teacherTempWarmupEpochs: Int

  /// The largest run the schedules describe (a guard against absurd sizes).
  public static let maximumIterations = 100_000_000

  /// Builds the schedules from the plan's hyper-parameters over `epochs` epochs.
  ///
  /// - Parameters:
  ///   - hyper: `Graph.hyper` (keys lr, min_lr, batch, epochs, warmup_epochs, weight_decay,
  ///     weight_decay_end, momentum_teacher, teacher_temp, warmup_teacher_temp,
  ///     warmup_teacher_temp_epochs, freeze_last_layer).
  ///   - iterationsPerEpoch: steps per epoch (⌊N / batch⌋ with drop_last).
  ///   - epochs: the run's length in epochs (nil: the plan's `epochs`); lengths stay in
  ///     epochs as the plan gives them and must not exceed it.
  ///   - worldSize: processes training together (1 on one machine).
  /// - Throws: `CompileError` when a key is missing or the values are inconsistent.
  public init(
    hyper: [String: Double], iterationsPerEpoch: Int, epochs: Int? = nil, worldSize: Int = 1
  ) throws(CompileError) {
    let lengths = try ScheduleLengths(hyper: hyper)
    let epochs = epochs.map(Double.init) ?? lengths.epochs
    guard epochs >= 1, epochs == epochs.rounded() else {
      throw CompileError("schedule: epochs must be a whole number ≥ 1, got \(epochs)")
    }
    try lengths.check(within: epochs)
    let total = try Self.iterations(epochs, iterationsPerEpoch, what: "epochs")
    let perEpoch = Double(iterationsPerEpoch)
    try self.init(
      hyper: hyper, iterationsPerEpoch: iterationsPerEpoch, totalIterations: total,
      warmup: Int((lengths.warmup * perEpoch).rounded()),
      freeze: Int((lengths.freeze * perEpoch).rounded()),
      teacherTempWarmup: Int((lengths.teacherTempWarmup * perEpoch).rounded()),
      teacherTempWarmupEpochs: lengths.teacherTempWarmup == lengths.teacherTempWarmup.rounded()
        ? Int(lengths.teacherTempWarmup) : nil,
      worldSize: worldSize)
  }

  /// Builds schedules of exactly `totalIterations` iterations (a time budget): every
  /// length scales with the run, the plan's E epochs becoming `totalIterations`, so a
  /// warm-up of w epochs lasts round(w · T / E) iterations; the teacher temperature then
  /// ramps per iteration.
  public init(
    hyper: [String: Double], iterationsPerEpoch: Int, totalIterations: Int, worldSize: Int = 1
  ) throws(CompileError) {
    let lengths = try ScheduleLengths(hyper: hyper)
    try lengths.check(within: lengths.epochs)
    guard totalIterations >= 1, totalIterations <= Self.maximumIterations else {
      throw CompileError(
        "schedule: \(totalIterations) total iterations is outside 1...\(Self.maximumIterations)")
    }
    let scale = Double(totalIterations) / lengths.epochs
    try self.init(
      hyper: hyper, iterationsPerEpoch: iterationsPerEpoch, totalIterations: totalIterations,
      warmup: Int((lengths.warmup * scale).rounded()),
      freeze: Int((lengths.freeze * scale).rounded()),
      teacherTempWarmup: Int((lengths.teacherTempWarmup * scale).rounded()),
      teacherTempWarmupEpochs: nil, worldSize: worldSize)
  }

  private init(
    hyper: [String: Double], iterationsPerEpoch: Int, totalIterations: Int, warmup: Int,
    freeze: Int, teacherTempWarmup: Int, teacherTempWarmupEpochs: Int?, worldSize: Int
  ) throws(CompileError) {
    guard iterationsPerEpoch > 0 else {
      throw CompileError(
        "schedule: iterations per epoch must be positive, got \(iterationsPerEpoch)")
    }
    self.iterationsPerEpoch = iterationsPerEpoch
    self.totalIterations = totalIterations
    warmupIterations = min(warmup, totalIterations)
    freezeIterations = min(freeze, totalIterations)
    teacherTempWarmupIterations = min(teacherTempWarmup, totalIterations)
    teacherTempPerEpoch = teacherTempWarmupEpochs != nil
    self.teacherTempWarmupEpochs = teacherTempWarmupEpochs ?? 0
    let value = ScheduleLengths.value(in: hyper)
    peakLR = try value("lr") * value("batch") * Double(worldSize) / 256
    minLR = try value("min_lr")
    weightDecayStart = try value("weight_decay")
    weightDecayEnd = try value("weight_decay_end")
    momentumStart = try value("momentum_teacher")
    warmupTeacherTemp = try value("warmup_teacher_temp")
    teacherTempFinal = try value("teacher_temp")
  }

  /// `epochs × iterationsPerEpoch` as a count, refused above `maximumIterations`.
  private static func iterations(_ epochs: Double, _ perEpoch: Int, what: String)
    throws(CompileError) -> Int
  {
    let total = epochs * Double(perEpoch)
    guard total <= Double(maximumIterations) else {
      throw CompileError(
        "schedule: \(Int(epochs)) \(what) × \(perEpoch) iterations per epoch is more than "
          + "\(maximumIterations) iterations; use fewer epochs or iterations per epoch")
    }
    return Int(total)
  }

  /// Learning rate at global iteration `it` (warmup from 0, then cosine to min_lr).
  public func lr(_ it: Int) -> Double {
    Self.cosine(
      base: peakLR, final: minLR, at: clamp(it), total: totalIterations,
      warmup: warmupIterations)
  }
  /// Weight decay at global iteration `it` (cosine, rising).
  public func weightDecay(_ it: Int) -> Double {
    Self.cosine(
      base: weightDecayStart, final: weightDecayEnd, at: clamp(it), total: totalIterations,
      warmup: 0)
  }
  /// Teacher EMA momentum at global iteration `it` (cosine to 1).
  public func momentum(_ it: Int) -> Double {
    Self.cosine(base: momentumStart, final: 1, at: clamp(it), total: totalIterations, warmup: 0)
  }

  /// Teacher temperature at global iteration `it`: per epoch (constant within an epoch)
  /// for a whole-epoch warm-up, else a per-iteration linear ramp.
  public func teacherTemp(iteration it: Int) -> Double {
    let it = clamp(it)
    if teacherTempPerEpoch {
      let epoch = it / iterationsPerEpoch
      guard epoch < teacherTempWarmupEpochs else { return teacherTempFinal }
      return Self.linspace(warmupTeacherTemp, teacherTempFinal, teacherTempWarmupEpochs, epoch)
    }
    guard it < teacherTempWarmupIterations else { return teacherTempFinal }
    return Self.linspace(warmupTeacherTemp, teacherTempFinal, teacherTempWarmupIterations, it)
  }

  /// 0 while the last layer is frozen (iteration < freeze iterations; with whole epochs,
  /// official DINO's epoch < freeze_last_layer), else 1.
  public func lastLayerGate(iteration it: Int) -> Double { it < freezeIterations ? 0 : 1 }

  private func clamp(_ it: Int) -> Int { min(max(it, 0), totalIterations - 1) }

  /// Element `index` of numpy.linspace(start, stop, count), endpoints included.
  static func linspace(_ start: Double, _ stop: Double, _ count: Int, _ index: Int) -> Double {
    if count == 1 { return start }
    if index == count - 1 { return stop }
    let step = (stop - start) / Double(count - 1)
    return start + Double(index) * step
  }

  /// Element `it` of utils.cosine_scheduler: linear warm-up from 0 (both ends included),
  /// then a cosine from `base` over the remaining iterations that never quite reaches
  /// `final`.
  static func cosine(base: Double, final: Double, at it: Int, total: Int, warmup: Int)
    -> Double
  {
    if it < warmup { return linspace(0, base, warmup, it) }
    let rest = total - warmup
    let j = it - warmup
    return final + 0.5 * (base - final) * (1 + Foundation.cos(Double.pi * Double(j) / Double(rest)))
  }
}

/// The schedule lengths a plan records, in epochs (fractions allowed).
struct ScheduleLengths {
  var epochs: Double
  var warmup: Double
  var freeze: Double
  var teacherTempWarmup: Double

  /// A reader of `hyper[key]` that names a missing key.
  static func value(in hyper: [String: Double]) -> (String) throws(CompileError) -> Double {
    { (key: String) throws(CompileError) -> Double in
      guard let v = hyper[key] else {
        throw CompileError("schedule: the plan has no hyper-parameter '\(key)'")
      }
      return v
    }
  }

  init(hyper: [String: Double]) throws(CompileError) {
    let value = Self.value(in: hyper)
    epochs = try value("epochs")
    warmup = try value("warmup_epochs")
    teacherTempWarmup = try value("warmup_teacher_temp_epochs")
    freeze = hyper["freeze_last_layer"] ?? 0
    guard epochs.isFinite, epochs >= 1 else {
      throw CompileError("schedule: epochs must be at least 1, got \(epochs)")
    }
  }

  /// Refuses a length that is negative, not finite, or longer than `epochs`.
  func check(within epochs: Double) throws(CompileError) {
    for (key, length) in [
      ("warmup_epochs", warmup), ("freeze_last_layer", freeze),
      ("warmup_teacher_temp_epochs", teacherTempWarmup),
    ] where !(length >= 0 && length <= epochs) {
      throw CompileError(
        "schedule: \(key) \(Self.text(length)) must be within 0...\(Self.text(epochs)) "
          + "(the run's epochs)")
    }
  }

  /// `2` for whole numbers, `0.15` otherwise.
  static func text(_ x: Double) -> String {
    x == x.rounded() && abs(x) < 1e15 ? "\(Int(x))" : "\(x)"
  }
}
