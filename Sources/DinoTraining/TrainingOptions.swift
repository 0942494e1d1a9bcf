import DinoData
import DinoIR
import DinoRuntime

/// What `dino-run train` was asked to do.
public struct TrainingOptions: Sendable {
  /// The image folder (ImageNet layout).
  public var data: String
  /// Where log.txt and the checkpoints go.
  public var output = "runs/train"
  /// Epochs (nil: the plan's, or on resume the checkpoint's); the schedules span this many
  /// and schedule lengths stay in epochs.
  public var epochs: Int?
  /// Iterations in all (nil: from the epochs); schedule lengths scale with the run as for
  /// a budget.
  public var iterations: Int?
  /// A wall-clock budget: a pilot measures the step time and sets `iterations`.
  public var budget: TimeBudget?
  /// With a budget: re-size the rest of the run when the steps' pace drifts from the
  /// pilot's (`BudgetPlan.replanned`); false keeps the pilot's iteration count.
  public var followsPace = true
  /// Tests only: seconds slept after each step from global iteration `from` on, to
  /// make a machine that gets busier mid-run.
  package var testSlowdown: (from: Int, seconds: Double)?
  /// Kernel threads.
  public var threads = 1
  /// Data loader threads.
  public var workers = BatchLoader.defaultWorkers
  /// The run's seed: augmentation, sample order, init specs, drop path (nil: the plan's
  /// `seed`, or on resume the checkpoint's).
  public var seed: UInt64?
  /// Start weights (student.*, teacher.*, center; see `DINOTrainer.loadWeights`).
  public var initWeights: String?
  /// Continue from `<output>/checkpoint.safetensors`.
  public var resume = false
  /// Resume even when the checkpoint's identity (plan, data, length) differs from this run.
  public var force = false
  /// Print a line every this many iterations (and at each epoch's last).
  public var logEvery = 10
  /// Also keep `checkpoint<epoch:04d>.safetensors` when epoch % saveEvery == 0 (0: never).
  public var saveEvery = 20
  /// Also save `checkpoint.safetensors` mid-epoch every this many minutes (0: never).
  public var saveEveryMinutes = 10.0

  /// Draw a live status line (for a terminal) instead of the per-interval log lines.
  public var live = false

  /// Options for training on `data` with the defaults.
  public init(data: String) { self.data = data }
}

extension TrainingOptions {
  /// Refuses inconsistent options in one line (a bad count, two lengths, --budget or
  /// --init with --resume).
  public func validate() throws(RuntimeError) {
    guard logEvery >= 1 else {
      throw RuntimeError("--log-every must be at least 1, got \(logEvery)")
    }
    guard saveEvery >= 0 else {
      throw RuntimeError("--save-every must not be negative, got \(saveEvery)")
    }
    guard saveEveryMinutes >= 0, saveEveryMinutes.isFinite else {
      throw RuntimeError(
        "--save-every-minutes must be 0 (off) or positive, got \(saveEveryMinutes)")
    }
    if let epochs, epochs < 1 {
      throw RuntimeError("--epochs must be at least 1, got \(epochs)")
    }
    if let iterations,
      iterations < 1 || iterations > TrainingSchedules.maximumIterations
    {
      throw RuntimeError(
        "--iterations must be within 1...\(TrainingSchedules.maximumIterations), got \(iterations)")
    }
    let lengths = [
      epochs.map { _ in "--epochs" }, iterations.map { _ in "--iterations" },
      budget.map { _ in "--budget" },
    ].compactMap { $0 }
    if lengths.count > 1 {
      throw RuntimeError(
        "\(lengths.joined(separator: " and ")) exclude each other: give one length")
    }
    if resume && initWeights != nil {
      throw RuntimeError("--init and --resume exclude each other (a checkpoint has the weights)")
    }
    if resume && budget != nil {
      throw RuntimeError(
        "--budget sizes a new run; --resume continues the checkpoint's schedule (drop --budget)")
    }
  }
}

/// What a finished (or stopped) run did.
public struct TrainingSummary: Sendable {
  /// The epoch training started at (0, or the checkpoint's).
  public var startEpoch: Int
  /// Epochs of the run (the schedules' length, a partial last epoch counted).
  public var epochs: Int
  /// Iterations per epoch (⌊images / batch⌋).
  public var iterationsPerEpoch: Int
  /// Iterations of the whole run (the schedules' length).
  public var totalIterations: Int
  /// Global iterations completed when this invocation ended.
  public var endStep: Int
  /// Iterations run by this invocation.
  public var steps: Int
  /// The loss of each step of this invocation.
  public var losses: [Float]
  /// The last loss, or nil when no step ran.
  public var lastLoss: Float?
  /// The scalars of the last step, or nil when no step ran.
  public var lastScalars: DINOTrainer.Scalars?
  /// How a budget sized the run, if one did.
  public var budget: BudgetPlan?
  /// The signal that stopped the run early, if one did.
  public var stoppedBy: Int32?
  /// The checkpoint written last.
  public var checkpoint: String
}
