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
  /// Epochs (nil: the plan's `epochs`); the schedules are built for this many.
  public var epochs: Int?
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
  /// Draw a live status line (for a terminal) instead of the per-interval log lines.
  public var live = false

  /// Options for training on `data` with the defaults.
  public init(data: String) { self.data = data }
}

/// What a finished run did.
public struct TrainingSummary: Sendable {
  /// The epoch training started at (0, or the checkpoint's).
  public var startEpoch: Int
  /// Epochs of the run (the schedules' length).
  public var epochs: Int
  /// Iterations per epoch (⌊images / batch⌋).
  public var iterationsPerEpoch: Int
  /// Iterations run by this invocation.
  public var steps: Int
  /// The last loss, or nil when no step ran.
  public var lastLoss: Float?
  /// The checkpoint written last.
  public var checkpoint: String
}

/// DINO training on an image folder: official DINO's `train_one_epoch` loop over a
/// plan's `train_step` and `ema`, with per-iteration schedules, logging, `log.txt` and a
/// checkpoint per epoch.
public final class TrainingRun {
  /// The options.
  public let options: TrainingOptions
  /// The trainer (its runtime holds the weights).
  public let trainer: DINOTrainer
  private let hyper: [String: Double]

  /// Loads the plan's graph for training with `options`.
  public init(graph: Graph, options: TrainingOptions) throws(RuntimeError) {
    self.options = options
    guard options.logEvery >= 1 else {
      throw RuntimeError("--log-every must be at least 1, got \(options.logEvery)")
    }
    guard options.saveEvery >= 0 else {
      throw RuntimeError("--save-every must not be negative, got \(options.saveEvery)")
    }
    if let epochs = options.epochs, epochs < 1 {
      throw RuntimeError("--epochs must be at least 1, got \(epochs)")
    }
    if options.resume && options.initWeights != nil {
      throw RuntimeError("--init and --resume exclude each other (a checkpoint has the weights)")
    }
    var hyper = graph.hyper
    if let epochs = options.epochs { hyper["epochs"] = Double(epochs) }
    self.hyper = hyper
    trainer = try DINOTrainer(graph: graph, threads: options.threads)
  }

  /// `<output>/checkpoint.safetensors`.
  public var checkpointPath: String { options.output + "/checkpoint.safetensors" }

  /// Trains until the last epoch; `log` receives each printed line.
  /// - Throws: `RuntimeError` for bad data, weights or plan, and
  ///   `stopping training at step N (…): loss is nan; first non-finite value: …` when the
  ///   loss or the student's weights are not finite (`StepGuard`; nothing is saved then).
  @discardableResult
  public func run(log: (String) -> Void) throws(RuntimeError) -> TrainingSummary {
    let fm = FileManager.default
    let hasCheckpoint = fm.fileExists(atPath: checkpointPath)
    if options.resume && !hasCheckpoint {
      throw RuntimeError("--resume: there is no \(checkpointPath)")
    }
    if !options.resume && hasCheckpoint {
      throw RuntimeError(
        "\(checkpointPath) exists: pass --resume to continue it, or choose another --output")
    }
    var seed = options.seed ?? UInt64(max(0, hyper["seed"] ?? 0))
    var startEpoch = 0
    if options.resume {
      let state = try trainer.loadCheckpoint(contentsOf: checkpointPath)
      startEpoch = state.epoch
      if options.seed == nil, let saved = state.metadata["seed"].flatMap({ UInt64($0) }) {
        seed = saved
      }
    } else if let path = options.initWeights {
      try trainer.loadWeights(contentsOf: path, seed: seed)
    } else {
      try trainer.initialize(seed: seed)
    }

    var dataHyper = hyper
    dataHyper["seed"] = Double(seed)
    let config: MultiCropConfig
    let folder: ImageFolder
    do {
      config = try MultiCropConfig(hyper: dataHyper)
      folder = try ImageFolder(path: options.data)
    } catch {
      throw RuntimeError(error.message)
    }
    try checkViews(config)
    let epochs = Int(hyper["epochs"] ?? 0)
    if startEpoch >= epochs {
      log("\(checkpointPath) is at epoch \(startEpoch) of \(epochs): nothing to train")
      return TrainingSummary(
        startEpoch: startEpoch, epochs: epochs, iterationsPerEpoch: 0, steps: 0, lastLoss: nil,
        checkpoint: checkpointPath)
    }
    let loader: BatchLoader
    do {
      loader = try BatchLoader(
        folder: folder, config: config, workers: options.workers, startEpoch: startEpoch)
    } catch {
      throw RuntimeError(error.message)
    }
    let iterations = loader.batchesPerEpoch
    let schedules = try trainer.schedules(iterationsPerEpoch: iterations)
    do {
      try fm.createDirectory(atPath: options.output, withIntermediateDirectories: true)
    } catch {
      throw RuntimeError("cannot create \(options.output): \(error.localizedDescription)")
    }
    log(
      "dino-run train: \(folder.count) images in \(folder.classes.count) classes under "
        + "\(folder.root); batch \(config.batchSize), \(iterations) iterations per epoch, "
        + "epochs \(startEpoch)..<\(epochs), \(config.viewCount) views "
        + "(2×\(config.globalSize) + \(config.localCrops)×\(config.localSize) px), "
        + "peak lr \(schedules.peakLR), seed \(seed), threads \(options.threads), "
        + "workers \(options.workers), output \(options.output)")

    let monitor = try TrainingMonitor(
      output: options.output, trainer: trainer, live: options.live, epochs: epochs,
      iterationsPerEpoch: iterations, startEpoch: startEpoch, logEvery: options.logEvery)
    let stepGuard = try StepGuard(trainer: trainer)
    var lastLoss: Float?
    var steps = 0
    let runStart = Self.now()
    for epoch in startEpoch..<epochs {
      var loss = SmoothedValue()
      var lr = SmoothedValue()
      var wd = SmoothedValue()
      var dataWait = 0.0
      let epochStart = Self.now()
      for iteration in 0..<iterations {
        let started = Self.now()
        try loadBatch(loader, epoch: epoch, iteration: iteration)
        let waited = loader.takeWaitSeconds()
        dataWait += waited
        let global = epoch * iterations + iteration
        let scalars = DINOTrainer.scalars(
          schedules, epoch: epoch, iteration: iteration,
          seed: Self.dropPathSeed(seed: seed, step: global))
        let value = try stepGuard.trainStep(
          scalars, label: "stopping training at step \(global) (epoch \(epoch), iteration "
            + "\(iteration))")
        try trainer.updateTeacher(momentum: scalars.momentum)
        lastLoss = value
        steps += 1
        loss.update(Double(value))
        lr.update(scalars.lr)
        wd.update(scalars.weightDecay)
        let elapsed = Self.now() - epochStart
        let report = StepReport(
          epoch: epoch, iteration: iteration, loss: value, scalars: scalars,
          seconds: Self.now() - started, dataWait: waited)
        for warning in try monitor.record(report) { log(warning) }
        if !options.live && (iteration % options.logEvery == 0 || iteration == iterations - 1) {
          let eta = elapsed / Double(iteration + 1) * Double(iterations - iteration - 1)
          log(
            TrainingLog.iterationLine(
              epoch: epoch, epochs: epochs, iteration: iteration, iterations: iterations,
              eta: eta, loss: loss, lr: scalars.lr, wd: scalars.weightDecay,
              seconds: Self.now() - started, dataWait: waited))
        }
      }
      let seconds = Self.now() - epochStart
      monitor.endLine()
      log(
        "Epoch: [\(epoch)/\(epochs)] Total time: \(TrainingLog.duration(seconds)) "
          + String(format: "(%.4f s / it)", seconds / Double(iterations)))
      log(
        String(
          format: "Averaged stats: loss: %.6f  lr: %.4e  wd: %.6f", loss.globalAverage,
          lr.globalAverage, wd.globalAverage))
      if let skipped = loader.skipSummary() { log(skipped) }
      try appendLog(
        TrainingLog.epochJSON(
          epoch: epoch, loss: loss.globalAverage, lr: lr.globalAverage, wd: wd.globalAverage,
          iterations: iterations, seconds: seconds, dataWait: dataWait))
      try monitor.writeCurves()
      let metadata = [
        "seed": "\(seed)", "epochs": "\(epochs)", "iterations_per_epoch": "\(iterations)",
        "train_loss": "\(loss.globalAverage)",
      ]
      try trainer.saveCheckpoint(
        to: checkpointPath, epoch: epoch + 1, step: (epoch + 1) * iterations, metadata: metadata)
      if options.saveEvery > 0 && epoch % options.saveEvery == 0 {
        let numbered =
          options.output + "/checkpoint" + String(format: "%04d", epoch)
          + ".safetensors"
        try trainer.saveCheckpoint(
          to: numbered, epoch: epoch + 1, step: (epoch + 1) * iterations, metadata: metadata)
      }
    }
    log("Training time \(TrainingLog.duration(Self.now() - runStart))")
    let overhead = stepGuard.overheadMilliseconds
    log(
      String(
        format: "Step checks: %.2f ms snapshot (%.1f MB) + %.2f ms weight scan per step",
        overhead.snapshot, Double(stepGuard.snapshot.bytes) / 1e6, overhead.scan))
    return TrainingSummary(
      startEpoch: startEpoch, epochs: epochs, iterationsPerEpoch: iterations, steps: steps,
      lastLoss: lastLoss, checkpoint: checkpointPath)
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
  private func loadBatch(_ loader: BatchLoader, epoch: Int, iteration: Int) throws(RuntimeError) {
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

  /// Appends one line to `<output>/log.txt` (never through a symbolic link).
  private func appendLog(_ line: String) throws(RuntimeError) {
    try AppendFile.append(line: line, to: options.output + "/log.txt")
  }

  /// Monotonic seconds.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
