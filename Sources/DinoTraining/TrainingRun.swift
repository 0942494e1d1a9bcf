import DinoData
import DinoFileGuard
import DinoIR
import DinoRuntime
import Dispatch
import Foundation

/// DINO training on an image folder: official DINO's `train_one_epoch` loop over a
/// plan's `train_step` and `ema`, with per-iteration schedules, logging, `log.txt`,
/// checkpoints (each epoch end, every few minutes, on SIGINT/SIGTERM) and exact resume.
public final class TrainingRun {
  /// The options.
  public let options: TrainingOptions
  /// The trainer (its runtime holds the weights).
  public let trainer: DINOTrainer
  let hyper: [String: Double]
  /// The CRC-32 of the plan's encoding: the plan part of the run's identity.
  let planChecksum: String
  /// The processes training together (a world of one without mpirun); rank 0 alone
  /// prints, writes the logs and saves checkpoints.
  public let world: Communicator

  /// Loads the plan's graph for training with `options`, as rank `world.rank` of
  /// `world.size` processes: each trains on its shard of every epoch with the plan's batch,
  /// and `train_step` averages the gradients over the processes before the optimiser.
  public init(graph: Graph, options: TrainingOptions, world: Communicator = Communicator())
    throws(RuntimeError)
  {
    self.options = options
    self.world = world
    try options.validate()
    if world.isDistributed && options.budget != nil {
      throw RuntimeError(
        "--budget is not supported with several processes yet: give --iterations or --epochs")
    }
    hyper = graph.hyper
    planChecksum = RunIdentity.checksum(of: graph)
    trainer = try DINOTrainer(graph: graph, threads: options.threads)
    trainer.worldSize = world.size
    if world.isDistributed {
      try trainer.runtime.shareGradients(of: "train_step", with: world)
      trainer.runtime.sumOverProcesses(with: world)
      trainer.runtime.setDataParallelRows(
        rank: world.rank, worldSize: world.size, perRankBatch: trainer.batch)
    }
  }

  /// `<output>/checkpoint.safetensors`.
  public var checkpointPath: String { options.output + "/checkpoint.safetensors" }

  /// Trains until the schedules end or SIGINT/SIGTERM arrives (then saves and returns
  /// with `stoppedBy` set); `log` receives each printed line.
  /// - Throws: `RuntimeError` for bad data, weights or plan, and
  ///   `Loss is <x>, stopping training` when the loss is not finite (nothing is saved then).
  @discardableResult
  public func run(log print: (String) -> Void) throws(RuntimeError) -> TrainingSummary {
    let isLeader = world.rank == 0
    func log(_ line: String) { if isLeader { print(line) } }
    let runStart = Self.now()
    StopSignals.install()
    defer { StopSignals.uninstall() }
    var start = try startState()
    let seed = start.seed
    var dataHyper = hyper
    dataHyper["seed"] = Double(seed)
    let config: MultiCropConfig
    let folder: ImageFolder
    let perEpoch: Int
    do {
      config = try MultiCropConfig(hyper: dataHyper)
      folder = try ImageFolder(path: options.data)
      perEpoch = try EpochSampler(
        count: folder.count, batchSize: config.batchSize, seed: seed, rank: world.rank,
        worldSize: world.size
      ).batchesPerEpoch
    } catch {
      throw RuntimeError(error.message)
    }
    try checkViews(config)
    let identity = RunIdentity(planChecksum: planChecksum, datasetSize: folder.count)
    if options.resume && !options.force {
      try identity.checkResume(start.metadata, checkpoint: checkpointPath, options: options)
    }
    if let note = rescaleForWorldSize(&start, perEpoch: perEpoch) {
      log(note)
    } else if let saved = start.metadata["iterations_per_epoch"].flatMap({ Int($0) }),
      saved != perEpoch
    {
      throw RuntimeError(
        "\(checkpointPath) was trained with \(saved) iterations per epoch, but \(options.data) "
          + "gives \(perEpoch): resume on the same data and batch")
    }
    if isLeader {
      do {
        try FileManager.default.createDirectory(
          atPath: options.output, withIntermediateDirectories: true)
      } catch {
        throw RuntimeError("cannot create \(options.output): \(error.localizedDescription)")
      }
      TrainingCheckpoints.removeStaleTemporaries(in: options.output)
    }
    var checkpoints = TrainingCheckpoints(
      folder: options.output, everyEpochs: options.saveEvery, minutes: options.saveEveryMinutes,
      now: Self.now())

    var budgetPlan: BudgetPlan?
    var schedules: TrainingSchedules
    let scaled: Bool
    if let budget = options.budget {
      let sizing = try sizeToBudget(
        budget, config: config, folder: folder, iterationsPerEpoch: perEpoch, seed: seed,
        runStart: runStart)
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
    var epochs = schedules.epochs
    var total = schedules.totalIterations
    func metadata(loss: Double) -> [String: String] {
      var values = [
        "seed": "\(seed)", "epochs": "\(epochs)", "iterations_per_epoch": "\(perEpoch)",
        "total_iterations": "\(total)", "schedule_lengths": scaled ? "scaled" : "epochs",
        "train_loss": "\(loss)", "world_size": "\(world.size)",
      ].merging(identity.metadata) { _, identity in identity }
      if let plan = budgetPlan {
        values["budget"] = plan.budget.text
        values["budget_seconds"] = "\(plan.budget.seconds)"
      } else if scaled, options.iterations == nil {  // a resumed budget run keeps its budget
        values["budget"] = start.metadata["budget"]
        values["budget_seconds"] = start.metadata["budget_seconds"]
      }
      return values
    }
    if budgetPlan != nil {  // a kill before the first epoch end still resumes with this T
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
    if world.isDistributed {
      log(
        "ranks \(world.size), threads per rank \(options.threads), global batch "
          + "\(world.size * config.batchSize) (\(world.size) × \(config.batchSize))")
    }
    log(
      "dino-run train: \(folder.count) images in \(folder.classes.count) classes under "
        + "\(folder.root); batch \(config.batchSize), \(perEpoch) iterations per epoch, "
        + "epochs \(start.step / perEpoch)..<\(epochs), iterations \(start.step)..<\(total), "
        + "\(config.viewCount) views "
        + "(2×\(config.globalSize) + \(config.localCrops)×\(config.localSize) px), "
        + "peak lr \(schedules.peakLR), seed \(seed), threads \(options.threads), "
        + "workers \(options.workers), output \(options.output)")

    let monitor =
      isLeader
      ? try TrainingMonitor(
        output: options.output, trainer: trainer, live: options.live, epochs: epochs,
        iterationsPerEpoch: perEpoch, totalIterations: total, startStep: start.step,
        logEvery: options.logEvery) : nil
    let stepGuard = try StepGuard(trainer: trainer, world: world)
    let shared = try SharedStepValues(trainer: trainer, world: world)
    var summary = TrainingSummary(
      startEpoch: start.step / perEpoch, epochs: epochs, iterationsPerEpoch: perEpoch,
      totalIterations: total, endStep: start.step, steps: 0, losses: [], lastLoss: nil,
      lastScalars: nil, budget: budgetPlan, stoppedBy: nil, checkpoint: checkpointPath)
    var stats = EpochStats(start: Self.now(), firstIteration: start.step % perEpoch)
    var pace = StepPace(budget: options.budget?.seconds ?? 0)  // budget runs only
    var step = start.step
    while step < total {
      defer { step += 1 }
      let epoch = step / perEpoch
      let iteration = step % perEpoch
      var epochIterations = min(perEpoch, total - epoch * perEpoch)
      if iteration == 0 && step != start.step {
        stats = EpochStats(start: Self.now(), firstIteration: 0)
      }
      let started = Self.now()
      TestFaults.killIfTargeted(rank: world.rank, step: step)
      try loadBatch(loader, epoch: epoch, iteration: iteration)
      if TestFaults.poisons(rank: world.rank, step: step) { try trainer.cropBuffer(0)[0] = .nan }
      let waited = loader.takeWaitSeconds()
      stats.dataWait += waited
      let scalars = DINOTrainer.scalars(
        schedules, step: step, seed: Self.dropPathSeed(seed: seed, step: step))
      var value = try stepGuard.trainStep(
        scalars,
        label: "stopping training at step \(step) (epoch \(epoch), iteration \(iteration))")
      shared.combine(loss: &value)
      try trainer.updateTeacher(momentum: scalars.momentum)
      if let slow = options.testSlowdown, step >= slow.from {
        Thread.sleep(forTimeInterval: slow.seconds)
      }
      summary.lastLoss = value
      summary.lastScalars = scalars
      summary.losses.append(value)
      summary.steps += 1
      summary.endStep = step + 1
      stats.loss.update(Double(value))
      stats.lr.update(scalars.lr)
      stats.wd.update(scalars.weightDecay)
      let report = StepReport(
        epoch: epoch, iteration: iteration, loss: value, scalars: scalars,
        seconds: Self.now() - started, dataWait: waited)
      for warning in try monitor?.record(report) ?? [] { log(warning) }
      pace.record(report.seconds, endingAt: Self.now())
      if var plan = budgetPlan, options.followsPace, (step + 1) % BudgetPlan.replanEvery == 0,
        let secondsPerStep = pace.secondsPerStep,
        let resized = BudgetPlan.replanned(
          total: total, step: step + 1, elapsed: Self.now() - runStart,
          secondsPerStep: secondsPerStep, budget: plan.budget.seconds,
          checkpointSeconds: plan.checkpointSeconds, iterationsPerEpoch: perEpoch,
          saveMinutes: options.saveEveryMinutes)
      {
        log(
          String(
            format: "budget: steps now take %.4f s (the pilot: %.4f s): %ld iterations instead "
              + "of %ld, schedules re-sized from iteration %ld",
            secondsPerStep, plan.secondsPerStep, resized, total, step + 1))
        schedules = try trainer.schedules(iterationsPerEpoch: perEpoch, totalIterations: resized)
        (total, epochs) = (resized, schedules.epochs)
        plan.totalIterations = resized
        plan.replans += 1
        budgetPlan = plan
        (summary.totalIterations, summary.epochs, summary.budget) = (total, epochs, plan)
        monitor?.resize(totalIterations: total, epochs: epochs)
        epochIterations = min(perEpoch, total - epoch * perEpoch)
      }
      if !options.live && (iteration % options.logEvery == 0 || iteration == epochIterations - 1) {
        let done = Double(iteration - stats.firstIteration + 1)
        let eta =
          (Self.now() - stats.start) / done * Double(epochIterations - iteration - 1)
        log(
          TrainingLog.iterationLine(
            epoch: epoch, epochs: epochs, iteration: iteration, iterations: perEpoch,
            eta: eta, loss: stats.loss, lr: scalars.lr, wd: scalars.weightDecay,
            seconds: Self.now() - started, dataWait: waited))
      }
      let stopSignal = shared.agreeOnStop(StopSignals.pending)
      if iteration == epochIterations - 1 {
        try shared.checkReplicasAgree(step: step + 1)
        if let monitor {
          monitor.endLine()
          try finishEpoch(epoch, epochs: epochs, stats: stats, loader: loader, log: log)
          try monitor.writeCurves()
          try checkpoints.save(
            trainer, step: step + 1, iterationsPerEpoch: perEpoch, finishedEpoch: epoch,
            metadata: metadata(loss: stats.loss.globalAverage), now: Self.now())
        }
      } else if isLeader && (stopSignal != nil || checkpoints.isDue(now: Self.now())) {
        try checkpoints.save(
          trainer, step: step + 1, iterationsPerEpoch: perEpoch, finishedEpoch: nil,
          metadata: metadata(loss: stats.loss.globalAverage), now: Self.now())
      }
      // One process also stops for a signal that came during this step's save.
      if let signal = world.isDistributed ? stopSignal : StopSignals.pending, step + 1 < total {
        summary.stoppedBy = signal
        return summary
      }
    }
    log("Training time \(TrainingLog.duration(Self.now() - runStart))")
    let overhead = stepGuard.overheadMilliseconds
    log(
      String(
        format: "Step checks: %.2f ms snapshot (%.1f MB) + %.2f ms weight scan per step",
        overhead.snapshot, Double(stepGuard.snapshot.bytes) / 1e6, overhead.scan))
    if world.isDistributed, summary.steps > 0 {
      log(shared.communicationLine(steps: summary.steps))
    }
    return summary
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
    do {
      try NoFollowAppend.append(line + "\n", to: options.output + "/log.txt")
    } catch {
      throw RuntimeError(error.message)
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
  /// The losses.
  var loss = SmoothedValue()
  /// The learning rates.
  var lr = SmoothedValue()
  /// The weight decays.
  var wd = SmoothedValue()
  /// Seconds waited for batches.
  var dataWait = 0.0

  /// Statistics of an epoch (part) beginning at `start` with `firstIteration`.
  init(start: Double, firstIteration: Int) {
    self.start = start
    self.firstIteration = firstIteration
  }
}
