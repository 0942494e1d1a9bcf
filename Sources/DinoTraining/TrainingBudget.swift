import DinoData
import DinoIR
import DinoRuntime
import Foundation

/// How `dino-run train --budget` sized a run: the pilot's measurements and the iteration
/// count chosen from them.
public struct BudgetPlan: Sendable, Hashable {
  /// The budget.
  public var budget: TimeBudget
  /// Pilot steps run (then undone).
  public var pilotSteps: Int
  /// The per-step estimate: the trimmed mean of the pilot steps after the first two (data
  /// wait included).
  public var secondsPerStep: Double
  /// Seconds one epoch end took: a checkpoint write and a curves.png rewrite.
  public var checkpointSeconds: Double
  /// The iterations chosen (updated when the run re-sized itself).
  public var totalIterations: Int
  /// How often the run re-sized its schedules because its pace drifted from the pilot's.
  public var replans = 0

  /// The fraction of the budget the run aims at (the rest absorbs timing noise).
  public static let target = 0.985
  /// Pilot steps at least (when they fit in a tenth of the budget).
  public static let minimumPilotSteps = 8
  /// Pilot steps at most.
  public static let maximumPilotSteps = 256
  /// The pilot runs at least this long (a fraction of the budget, at most 5 s), so short
  /// steps are timed over many samples.
  public static func pilotSeconds(budget: Double) -> Double { min(0.025 * budget, 5) }
  /// Pilot steps whose time is not used (caches, the loader's first batches).
  public static let warmupSteps = 2
  /// The shortest run a budget may choose.
  public static let minimumIterations = 10

  /// The iterations that fit in the budget after `elapsed` seconds.
  ///
  /// Each step costs `secondsPerStep`, each epoch end one checkpoint, each `saveMinutes`
  /// one more, and the run a final checkpoint and `oneOff` seconds (the loader's restart).
  public static func iterations(
    budget: Double, elapsed: Double, secondsPerStep: Double, checkpointSeconds: Double,
    oneOff: Double, iterationsPerEpoch: Int, saveMinutes: Double
  ) -> Int {
    var remaining = budget * target - elapsed - oneOff - checkpointSeconds
    if saveMinutes > 0 {
      remaining -= (remaining / (saveMinutes * 60)).rounded(.down) * checkpointSeconds
    }
    let perStep = secondsPerStep + checkpointSeconds / Double(iterationsPerEpoch)
    guard remaining > 0, perStep > 0 else { return 0 }
    return Int(min(remaining / perStep, Double(TrainingSchedules.maximumIterations)))
  }

  /// Steps between two checks of a budget run's pace.
  public static let replanEvery = 50
  /// How far (a fraction of the budget) the projected end may drift from the target before
  /// the rest of the run is re-sized.
  public static let replanTolerance = 0.03
  /// The pace is the mean step time over the last this fraction of the budget (and at
  /// least `replanEvery` steps): long enough to average out a shared machine's minute-scale
  /// noise (on the demo, 50-step means ranged 0.16–0.21 s and made the run re-size itself
  /// every few hundred steps), short enough to follow a lasting change.
  public static let paceWindow = 0.1

  /// The new iteration count of a budget run whose steps no longer take what the pilot
  /// measured (the machine got busier or quieter), or nil while the projected end stays
  /// within `replanTolerance` of the target.
  ///
  /// The run has done `step` of `total` iterations in `elapsed` seconds; its recent steps
  /// took `secondsPerStep` each. The remaining time, at that pace and with the same
  /// checkpoint costs as the first plan, decides the new count (at least `step + 1`).
  public static func replanned(
    total: Int, step: Int, elapsed: Double, secondsPerStep: Double, budget: Double,
    checkpointSeconds: Double, iterationsPerEpoch: Int, saveMinutes: Double
  ) -> Int? {
    let perStep = secondsPerStep + checkpointSeconds / Double(iterationsPerEpoch)
    let projected = elapsed + Double(total - step) * perStep + checkpointSeconds
    guard abs(projected - budget * target) > replanTolerance * budget else { return nil }
    let more = iterations(
      budget: budget, elapsed: elapsed, secondsPerStep: secondsPerStep,
      checkpointSeconds: checkpointSeconds, oneOff: 0, iterationsPerEpoch: iterationsPerEpoch,
      saveMinutes: saveMinutes)
    let resized = max(step + 1, step + more)
    return resized == total ? nil : resized
  }

  /// The mean of `values` without the slowest tenth: robust to a rare stall (a page
  /// fault, another process), yet unlike the median it keeps the usual right skew of step
  /// times on a shared machine, which the run's total pays.
  public static func trimmedMean(_ values: [Double]) -> Double {
    let sorted = values.sorted()
    let kept = sorted.prefix(max(1, sorted.count - sorted.count / 10))
    return kept.reduce(0, +) / Double(kept.count)
  }

  /// The line `dino-run train` prints: what was measured and what was chosen.
  public func line(_ schedules: TrainingSchedules) -> String {
    "budget \(budget.text) (\(Int(budget.seconds.rounded())) s): pilot \(pilotSteps) steps, "
      + String(
        format: "%.4f s/step, epoch end (checkpoint, curves) %.3f s", secondsPerStep,
        checkpointSeconds)
      + " → \(totalIterations) iterations = \(TrainingSchedules.epochText(schedules)) epochs "
      + "of \(schedules.iterationsPerEpoch); lr warm-up \(schedules.warmupIterations), "
      + "last layer frozen \(schedules.freezeIterations), teacher temperature warm-up "
      + "\(schedules.teacherTempWarmupIterations) iterations"
  }
}

extension TrainingRun {
  /// Times real steps (`train_step` + `ema` on the loader's batches from epoch 0 batch 0,
  /// with the plan's schedules) until at least `minimumPilotSteps` steps and
  /// `pilotSeconds` have passed (at most `maximumPilotSteps`; stopping early once a tenth
  /// of the budget is spent), then puts every persistent buffer back as it was.
  /// - Returns: the wall time of each step, data wait included.
  func pilot(
    budget: TimeBudget, loader: BatchLoader, seed: UInt64, runStart: Double
  ) throws(RuntimeError) -> [Double] {
    let provisional = try trainer.schedules(iterationsPerEpoch: loader.batchesPerEpoch)
    let runtime = trainer.runtime
    let saved = try RegionSnapshot(runtime, regions: runtime.layout.regions)
    try saved.save()
    var times: [Double] = []
    defer { try? saved.restore() }
    let stepGuard = try StepGuard(trainer: trainer)  // its per-step copy is part of a step  // the same regions, sizes checked at init: cannot fail
    for step in 0..<BudgetPlan.maximumPilotSteps {
      let started = Self.now()
      try loadBatch(
        loader, epoch: step / loader.batchesPerEpoch, iteration: step % loader.batchesPerEpoch)
      let scalars = DINOTrainer.scalars(
        provisional, step: step, seed: Self.dropPathSeed(seed: seed, step: step))
      _ = try stepGuard.trainStep(scalars, label: "stopping the budget's pilot at step \(step)")
      try trainer.updateTeacher(momentum: scalars.momentum)
      times.append(Self.now() - started)
      if StopSignals.pending != nil { break }
      let spent = times.reduce(0, +)
      if times.count >= BudgetPlan.minimumPilotSteps
        && spent >= BudgetPlan.pilotSeconds(budget: budget.seconds)
      {
        break
      }
      if times.count > BudgetPlan.warmupSteps && Self.now() - runStart > budget.seconds * 0.1 {
        break
      }
    }
    return times
  }
}

/// A budget run's recent step times: the mean over a sliding window of wall time.
package struct StepPace {
  /// The window, in seconds.
  package let window: Double
  /// The fewest steps a mean is taken over.
  package let minimumSteps: Int
  private var ends: [Double] = []
  private var seconds: [Double] = []
  private var first = 0
  private var sum = 0.0

  /// An empty pace for a budget of `budget` seconds.
  package init(budget: Double) {
    window = budget * BudgetPlan.paceWindow
    minimumSteps = BudgetPlan.replanEvery
  }

  /// Records a step that took `duration` seconds and ended at `end`.
  package mutating func record(_ duration: Double, endingAt end: Double) {
    ends.append(end)
    seconds.append(duration)
    sum += duration
    while ends.count - first > minimumSteps && ends[first] < end - window {
      sum -= seconds[first]
      first += 1
    }
  }

  /// The mean step time of the window, or nil before `minimumSteps` steps.
  package var secondsPerStep: Double? {
    let count = ends.count - first
    return count >= minimumSteps ? sum / Double(count) : nil
  }
}
