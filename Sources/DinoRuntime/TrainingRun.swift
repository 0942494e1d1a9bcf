import DinoData
import DinoIR
import Dispatch
import Foundation

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
  /// Print a line every this many iterations (and at each epoch's last).
  public var logEvery = 10
  /// Also keep `checkpoint<epoch:04d>.safetensors` when epoch % saveEvery == 0 (0: never).
  public var saveEvery = 20
  /// Also save `checkpoint.safetensors` mid-epoch every this many minutes (0: never).
  public var saveEveryMinutes = 10.0

  /// Options for training on `data` with the defaults.
  public init(data: String) { self.data = data }
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

/// DINO training on an image folder: official DINO's `train_one_epoch` loop over a
/// plan's `train_step` and `ema`, with per-iteration schedules, logging, `log.txt`,
/// checkpoints (each epoch end, every few minutes, on SIGINT/SIGTERM) and exact resume.
public final class TrainingRun {
  /// The options.
  public let options: TrainingOptions
  /// The trainer (its runtime holds the weights).
  public let trainer: DINOTrainer
  let hyper: [String: Double]

  /// Loads the plan's graph for training with `options`.
  public init(graph: Graph, options: TrainingOptions) throws(RuntimeError) {
    self.options = options
    guard options.logEvery >= 1 else {
      throw RuntimeError("--log-every must be at least 1, got \(options.logEvery)")
    }
    guard options.saveEvery >= 0 else {
      throw RuntimeError("--save-every must not be negative, got \(options.saveEvery)")
    }
    guard options.saveEveryMinutes >= 0, options.saveEveryMinutes.isFinite else {
      throw RuntimeError(
        "--save-every-minutes must be 0 (off) or positive, got \(options.saveEveryMinutes)")
    }
    if let epochs = options.epochs, epochs < 1 {
      throw RuntimeError("--epochs must be at least 1, got \(epochs)")
    }
    if let iterations = options.iterations,
      iterations < 1 || iterations > TrainingSchedules.maximumIterations
    {
      throw RuntimeError(
        "--iterations must be within 1...\(TrainingSchedules.maximumIterations), got \(iterations)")
    }
    let lengths = [
      options.epochs.map { _ in "--epochs" }, options.iterations.map { _ in "--iterations" },
      options.budget.map { _ in "--budget" },
    ].compactMap { $0 }
    if lengths.count > 1 {
      throw RuntimeError(
        "\(lengths.joined(separator: " and ")) exclude each other: give one length")
    }
    if options.resume && options.initWeights != nil {
      throw RuntimeError("--init and --resume exclude each other (a checkpoint has the weights)")
    }
    if options.resume && options.budget != nil {
      throw RuntimeError(
        "--budget sizes a new run; --resume continues the checkpoint's schedule (drop --budget)")
    }
    hyper = graph.hyper
    trainer = try DINOTrainer(graph: graph, threads: options.threads)
  }

  /// `<output>/checkpoint.safetensors`.
  public var checkpointPath: String { options.output + "/checkpoint.safetensors" }

  /// Where training begins: the seed, the global iteration, and the checkpoint's metadata.
  private struct Start {
    var seed: UInt64
    var step = 0
    var metadata: [String: String] = [:]
  }

  /// Trains until the schedules end or SIGINT/SIGTERM arrives (then saves and returns
  /// with `stoppedBy` set); `log` receives each printed line.
  /// - Throws: `RuntimeError` for bad data, weights or plan, and
  ///   `Loss is <x>, stopping training` when the loss is not finite (nothing is saved then).
  @discardableResult
  public func run(log: (String) -> Void) throws(RuntimeError) -> TrainingSummary {
    let runStart = Self.now()
    StopSignals.install()
    defer { StopSignals.uninstall() }
    let start = try startState()
    let seed = start.seed
    var dataHyper = hyper
    dataHyper["seed"] = Double(seed)
    let config: MultiCropConfig
    let folder: ImageFolder
    let perEpoch: Int
    do {
      config = try MultiCropConfig(hyper: dataHyper)
      folder = try ImageFolder(path: options.data)
      perEpoch = try EpochSampler(count: folder.count, batchSize: config.batchSize, seed: seed)
        .batchesPerEpoch
    } catch {
      throw RuntimeError(error.message)
    }
    try checkViews(config)
    if let saved = start.metadata["iterations_per_epoch"].flatMap({ Int($0) }), saved != perEpoch
    {
      throw RuntimeError(
        "\(checkpointPath) was trained with \(saved) iterations per epoch, but \(options.data) "
          + "gives \(perEpoch): resume on the same data and batch")
    }
    do {
      try FileManager.default.createDirectory(
        atPath: options.output, withIntermediateDirectories: true)
    } catch {
      throw RuntimeError("cannot create \(options.output): \(error.localizedDescription)")
    }
    TrainingCheckpoints.removeStaleTemporaries(in: options.output)
    var checkpoints = TrainingCheckpoints(
      folder: options.output, everyEpochs: options.saveEvery, minutes: options.saveEveryMinutes,
      now: Self.now())

    var budgetPlan: BudgetPlan?
    let schedules: TrainingSchedules
    let scaled: Bool
    if let budget = options.budget {
      let sizing = try sizeToBudget(
        budget, config: config, folder: folder, iterationsPerEpoch: perEpoch, seed: seed,
        runStart: runStart, checkpoints: &checkpoints)
      guard let sizing else {
        return TrainingSummary(
          startEpoch: 0, epochs: 0, iterationsPerEpoch: perEpoch, totalIterations: 0,
          endStep: 0, steps: 0, losses: [], lastLoss: nil, lastScalars: nil, budget: nil,
          stoppedBy: StopSignals.pending, checkpoint: "")
      }
      (schedules, budgetPlan, scaled) = (sizing.schedules, sizing.plan, true)
      log(sizing.plan.line(schedules))
    } else {
      (schedules, scaled) = try resolveSchedules(perEpoch: perEpoch, saved: start.metadata)
    }
    let epochs = schedules.epochs
    let total = schedules.totalIterations
    func metadata(loss: Double) -> [String: String] {
      var values = [
        "seed": "\(seed)", "epochs": "\(epochs)", "iterations_per_epoch": "\(perEpoch)",
        "total_iterations": "\(total)", "schedule_lengths": scaled ? "scaled" : "epochs",
        "train_loss": "\(loss)",
      ]
      if let plan = budgetPlan {
        values["budget"] = plan.budget.text
        values["budget_seconds"] = "\(plan.budget.seconds)"
      }
      return values
    }
    if budgetPlan != nil {
      try checkpoints.save(
        trainer, step: 0, iterationsPerEpoch: perEpoch, finishedEpoch: nil,
        metadata: metadata(loss: .nan), now: Self.now())
    }
    if start.step >= total {
      log("\(checkpointPath) is at iteration \(start.step) of \(total): nothing to train")
      return TrainingSummary(
        startEpoch: start.step / perEpoch, epochs: epochs, iterationsPerEpoch: perEpoch,
        totalIterations: total, endStep: start.step, steps: 0, losses: [], lastLoss: nil,
        lastScalars: nil, budget: budgetPlan, stoppedBy: nil, checkpoint: checkpointPath)
    }
    let loader = try makeLoader(
      folder: folder, config: config, step: start.step, perEpoch: perEpoch)
    log(
      "dino-run train: \(folder.count) images in \(folder.classes.count) classes under "
        + "\(folder.root); batch \(config.batchSize), \(perEpoch) iterations per epoch, "
        + "epochs \(start.step / perEpoch)..<\(epochs), iterations \(start.step)..<\(total), "
        + "\(config.viewCount) views "
        + "(2×\(config.globalSize) + \(config.localCrops)×\(config.localSize) px), "
        + "peak lr \(schedules.peakLR), seed \(seed), threads \(options.threads), "
        + "workers \(options.workers), output \(options.output)")

    var summary = TrainingSummary(
      startEpoch: start.step / perEpoch, epochs: epochs, iterationsPerEpoch: perEpoch,
      totalIterations: total, endStep: start.step, steps: 0, losses: [], lastLoss: nil,
      lastScalars: nil, budget: budgetPlan, stoppedBy: nil, checkpoint: checkpointPath)
    var stats = EpochStats(start: Self.now(), firstIteration: start.step % perEpoch)
    for step in start.step..<total {
      let epoch = step / perEpoch
      let iteration = step % perEpoch
      let epochIterations = min(perEpoch, total - epoch * perEpoch)
      if iteration == 0 && step != start.step {
        stats = EpochStats(start: Self.now(), firstIteration: 0)
      }
      let started = Self.now()
      try loadBatch(loader, epoch: epoch, iteration: iteration)
      let waited = loader.takeWaitSeconds()
      stats.dataWait += waited
      let scalars = DINOTrainer.scalars(
        schedules, step: step, seed: Self.dropPathSeed(seed: seed, step: step))
      let value = try trainer.trainStep(scalars)
      guard value.isFinite else {
        throw RuntimeError("Loss is \(Self.pythonFloat(value)), stopping training")
      }
      try trainer.updateTeacher(momentum: scalars.momentum)
      summary.lastLoss = value
      summary.lastScalars = scalars
      summary.losses.append(value)
      summary.steps += 1
      summary.endStep = step + 1
      stats.loss.update(Double(value))
      stats.lr.update(scalars.lr)
      stats.wd.update(scalars.weightDecay)
      if iteration % options.logEvery == 0 || iteration == epochIterations - 1 {
        let done = Double(iteration - stats.firstIteration + 1)
        let eta =
          (Self.now() - stats.start) / done * Double(epochIterations - iteration - 1)
        log(
          TrainingLog.iterationLine(
            epoch: epoch, epochs: epochs, iteration: iteration, iterations: perEpoch,
            eta: eta, loss: stats.loss, lr: scalars.lr, wd: scalars.weightDecay,
            seconds: Self.now() - started, dataWait: waited))
      }
      if iteration == epochIterations - 1 {
        try finishEpoch(epoch, epochs: epochs, stats: stats, loader: loader, log: log)
        try checkpoints.save(
          trainer, step: step + 1, iterationsPerEpoch: perEpoch, finishedEpoch: epoch,
          metadata: metadata(loss: stats.loss.globalAverage), now: Self.now())
      } else if StopSignals.pending != nil || checkpoints.isDue(now: Self.now()) {
        try checkpoints.save(
          trainer, step: step + 1, iterationsPerEpoch: perEpoch, finishedEpoch: nil,
          metadata: metadata(loss: stats.loss.globalAverage), now: Self.now())
      }
      if let signal = StopSignals.pending {
        summary.stoppedBy = signal
        return summary
      }
    }
    log("Training time \(TrainingLog.duration(Self.now() - runStart))")
    return summary
  }

  /// The seed and global iteration to start from: a checkpoint's (with --resume), else 0
  /// after loading --init weights or initialising from the plan's init specs.
  private func startState() throws(RuntimeError) -> Start {
    let hasCheckpoint = FileManager.default.fileExists(atPath: checkpointPath)
    if options.resume && !hasCheckpoint {
      throw RuntimeError("--resume: there is no \(checkpointPath)")
    }
    if !options.resume && hasCheckpoint {
      throw RuntimeError(
        "\(checkpointPath) exists: pass --resume to continue it, or choose another --output")
    }
    var start = Start(seed: options.seed ?? UInt64(max(0, hyper["seed"] ?? 0)))
    if options.resume {
      let state = try trainer.loadCheckpoint(contentsOf: checkpointPath)
      start.step = state.step
      start.metadata = state.metadata
      if options.seed == nil, let saved = state.metadata["seed"].flatMap({ UInt64($0) }) {
        start.seed = saved
      }
    } else if let path = options.initWeights {
      try trainer.loadWeights(contentsOf: path, seed: start.seed)
    } else {
      try trainer.initialize(seed: start.seed)
    }
    return start
  }

  /// The schedules of a run without a budget: `--iterations`, `--epochs`, a resumed
  /// checkpoint's length, or the plan's epochs. Returns whether the lengths scale.
  private func resolveSchedules(perEpoch: Int, saved: [String: String]) throws(RuntimeError)
    -> (TrainingSchedules, scaled: Bool)
  {
    do {
      if let iterations = options.iterations {
        return (
          try trainer.schedules(iterationsPerEpoch: perEpoch, totalIterations: iterations), true
        )
      }
      if let epochs = options.epochs {
        return (try trainer.schedules(iterationsPerEpoch: perEpoch, epochs: epochs), false)
      }
    } catch {
      let flag = options.iterations != nil ? "--iterations" : "--epochs"
      throw RuntimeError("\(flag): \(error.message)")
    }
    let savedTotal = saved["total_iterations"].flatMap { Int($0) }
    if saved["schedule_lengths"] == "scaled", let savedTotal {
      return (
        try trainer.schedules(iterationsPerEpoch: perEpoch, totalIterations: savedTotal), true
      )
    }
    let savedEpochs = saved["epochs"].flatMap { Int($0) }
    return (try trainer.schedules(iterationsPerEpoch: perEpoch, epochs: savedEpochs), false)
  }

  /// Runs the pilot, restores the weights, writes the step-0 checkpoint (timing it) and
  /// chooses the iteration count; nil when a signal arrived during the pilot.
  private func sizeToBudget(
    _ budget: TimeBudget, config: MultiCropConfig, folder: ImageFolder,
    iterationsPerEpoch: Int, seed: UInt64, runStart: Double,
    checkpoints: inout TrainingCheckpoints
  ) throws(RuntimeError) -> (schedules: TrainingSchedules, plan: BudgetPlan)? {
    let times: [Double]
    do {  // the pilot's loader stops when it goes out of scope
      let loader = try makeLoader(
        folder: folder, config: config, step: 0, perEpoch: iterationsPerEpoch)
      times = try pilot(budget: budget, loader: loader, seed: seed, runStart: runStart)
    }
    if StopSignals.pending != nil { return nil }
    let measured = Array(times.dropFirst(min(BudgetPlan.warmupSteps, times.count - 1)))
    let secondsPerStep = BudgetPlan.trimmedMean(measured)
    let saveStart = Self.now()
    try checkpoints.save(
      trainer, step: 0, iterationsPerEpoch: iterationsPerEpoch, finishedEpoch: nil,
      metadata: ["seed": "\(seed)"], now: Self.now())
    let checkpointSeconds = Self.now() - saveStart
    let total = BudgetPlan.iterations(
      budget: budget.seconds, elapsed: Self.now() - runStart, secondsPerStep: secondsPerStep,
      checkpointSeconds: checkpointSeconds, oneOff: max(0, times[0] - secondsPerStep),
      iterationsPerEpoch: iterationsPerEpoch, saveMinutes: options.saveEveryMinutes)
    guard total >= BudgetPlan.minimumIterations else {
      try? FileManager.default.removeItem(atPath: checkpoints.path)
      let perStep = secondsPerStep + checkpointSeconds / Double(iterationsPerEpoch)
      let needed =
        (Self.now() - runStart + Double(BudgetPlan.minimumIterations) * perStep
          + 2 * checkpointSeconds) / BudgetPlan.target
      throw RuntimeError(
        "--budget \(budget.text) is too short: the pilot measured "
          + String(format: "%.3f", secondsPerStep) + " s/step, leaving time for \(max(0, total)) "
          + "iterations (at least \(BudgetPlan.minimumIterations)); give at least "
          + "\(Int(needed.rounded(.up)))s")
    }
    let schedules = try trainer.schedules(
      iterationsPerEpoch: iterationsPerEpoch, totalIterations: total)
    let plan = BudgetPlan(
      budget: budget, pilotSteps: times.count, secondsPerStep: secondsPerStep,
      checkpointSeconds: checkpointSeconds, totalIterations: total)
    return (schedules, plan)
  }

  /// A loader whose stream starts at global iteration `step`.
  private func makeLoader(folder: ImageFolder, config: MultiCropConfig, step: Int, perEpoch: Int)
    throws(RuntimeError) -> BatchLoader
  {
    do {
      return try BatchLoader(
        folder: folder, config: config, workers: options.workers, startEpoch: step / perEpoch,
        startBatch: step % perEpoch)
    } catch {
      throw RuntimeError(error.message)
    }
  }

  /// The epoch-end lines, the skipped-files summary and the `log.txt` record.
  private func finishEpoch(
    _ epoch: Int, epochs: Int, stats: EpochStats, loader: BatchLoader, log: (String) -> Void
  ) throws(RuntimeError) {
    let seconds = Self.now() - stats.start
    log(
      "Epoch: [\(epoch)/\(epochs)] Total time: \(TrainingLog.duration(seconds)) "
        + String(format: "(%.4f s / it)", seconds / Double(stats.loss.count)))
    log(
      String(
        format: "Averaged stats: loss: %.6f  lr: %.4e  wd: %.6f", stats.loss.globalAverage,
        stats.lr.globalAverage, stats.wd.globalAverage))
    if let skipped = loader.skipSummary() { log(skipped) }
    try appendLog(
      TrainingLog.epochJSON(
        epoch: epoch, loss: stats.loss.globalAverage, lr: stats.lr.globalAverage,
        wd: stats.wd.globalAverage, iterations: stats.loss.count, seconds: seconds,
        dataWait: stats.dataWait))
  }

  /// The drop-path seed of global iteration `step`: a hash of (seed, step), so a resumed
  /// run draws what an uninterrupted one would.
  public static func dropPathSeed(seed: UInt64, step: Int) -> Int32 {
    Int32(
      truncatingIfNeeded: InitRandom.hash(seed, InitRandom.fnv1a("drop_path"), UInt64(step), 0))
  }

  /// Checks that the loader's views are the plan's crops.
  private func checkViews(_ config: MultiCropConfig) throws(RuntimeError) {
    let views = (0..<config.viewCount).map { config.shape(ofView: $0) }
    let crops = trainer.crops.map(\.type.shape)
    guard views == crops else {
      throw RuntimeError(
        "the data recipe makes views \(views.map { shapeText($0) }.joined(separator: ", ")) "
          + "but the plan takes \(trainer.cropSummary())")
    }
  }

  /// Copies the loader's next batch into the crops; it must be (epoch, iteration).
  func loadBatch(_ loader: BatchLoader, epoch: Int, iteration: Int) throws(RuntimeError) {
    try RuntimeError.mapping {
      try loader.withNextBatch { batch in
        guard batch.epoch == epoch, batch.index == iteration else {
          throw RuntimeError(
            "the loader delivered epoch \(batch.epoch) batch \(batch.index), "
              + "expected epoch \(epoch) batch \(iteration)")
        }
        for v in 0..<batch.viewCount {
          let source = batch.view(v)
          let destination = try trainer.cropBuffer(v)
          guard source.count == destination.count else {
            throw RuntimeError(
              "view \(v) has \(source.count) values, crop\(v) takes \(destination.count)")
          }
          _ = destination.update(fromContentsOf: source)
        }
      }
    }
  }

  /// Appends one line to `<output>/log.txt`.
  private func appendLog(_ line: String) throws(RuntimeError) {
    let path = options.output + "/log.txt"
    guard let file = fopen(path, "a") else {
      throw RuntimeError("cannot append to \(path): \(String(cString: strerror(errno)))")
    }
    defer { fclose(file) }
    if fputs(line + "\n", file) < 0 || fflush(file) != 0 {
      throw RuntimeError("cannot write \(path): \(String(cString: strerror(errno)))")
    }
  }

  /// `nan`, `inf`, `-inf` as Python prints them; other values as Swift does.
  static func pythonFloat(_ x: Float) -> String {
    if x.isNaN { return "nan" }
    if x.isInfinite { return x < 0 ? "-inf" : "inf" }
    return "\(x)"
  }

  /// Monotonic seconds.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}

/// The running statistics of the epoch in progress (of this invocation's part of it).
struct EpochStats {
  /// When the epoch (or this invocation's part of it) began.
  var start: Double
  /// The first iteration of the epoch this invocation ran.
  var firstIteration: Int
  var loss = SmoothedValue()
  var lr = SmoothedValue()
  var wd = SmoothedValue()
  var dataWait = 0.0

  init(start: Double, firstIteration: Int) {
    self.start = start
    self.firstIteration = firstIteration
  }
}
