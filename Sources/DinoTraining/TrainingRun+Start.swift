import DinoData
import DinoIR
import DinoRuntime
import Foundation

/// How a training run begins: from a checkpoint, --init weights or the init specs, with
/// the schedules of --iterations, --epochs, a resumed checkpoint, the plan, or a budget.
extension TrainingRun {
  /// Where training begins: the seed, the global iteration, and the checkpoint's metadata.
  struct Start {
    var seed: UInt64
    var step = 0
    var metadata: [String: String] = [:]
  }

  /// The seed and global iteration to start from: a checkpoint's (with --resume), else 0
  /// after loading --init weights or initialising from the plan's init specs.
  func startState() throws(RuntimeError) -> Start {
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
  func resolveSchedules(perEpoch: Int, saved: [String: String]) throws(RuntimeError)
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

  /// A resumed checkpoint trained by another number of processes: maps its position and
  /// (for scaled schedules) its length to this run's iterations per epoch, and returns the
  /// note to print; nil when the process count is the checkpoint's or nothing is resumed.
  func rescaleForWorldSize(_ start: inout Start, perEpoch: Int) -> String? {
    guard options.resume else { return nil }
    let savedWorld = start.metadata["world_size"].flatMap { Int($0) } ?? 1
    guard savedWorld != world.size,
      let savedPerEpoch = start.metadata["iterations_per_epoch"].flatMap({ Int($0) }),
      savedPerEpoch > 0
    else { return nil }
    let ratio = Double(perEpoch) / Double(savedPerEpoch)
    let saved = start.step
    let epoch = saved / savedPerEpoch
    let within = Int((Double(saved % savedPerEpoch) * ratio).rounded(.down))
    start.step = epoch * perEpoch + min(perEpoch - 1, within)
    if start.metadata["schedule_lengths"] == "scaled",
      let total = start.metadata["total_iterations"].flatMap({ Int($0) })
    {
      start.metadata["total_iterations"] = "\(max(1, Int((Double(total) * ratio).rounded())))"
    }
    start.metadata["iterations_per_epoch"] = "\(perEpoch)"
    let batch = trainer.batch
    return "note: \(checkpointPath) was trained by \(savedWorld) process"
      + (savedWorld == 1 ? "" : "es") + " (global batch \(savedWorld * batch), "
      + "\(savedPerEpoch) iterations per epoch); continuing with \(world.size) (global batch "
      + "\(world.size * batch), \(perEpoch) per epoch): iteration \(saved) becomes \(start.step), "
      + "the learning rate follows the new global batch, and the rest of epoch \(epoch) is "
      + "sharded anew (some of its images may repeat or be left out)"
  }

  /// Runs the pilot, restores the weights, times a checkpoint write (to a temporary file
  /// that is removed) and chooses the iteration count; nil when a signal arrived during
  /// the pilot.
  func sizeToBudget(
    _ budget: TimeBudget, config: MultiCropConfig, folder: ImageFolder,
    iterationsPerEpoch: Int, seed: UInt64, runStart: Double
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
    let probe = options.output + "/.checkpoint-probe.safetensors.tmp.budget"
    let saveStart = Self.now()
    try trainer.saveCheckpoint(to: probe, epoch: 0, step: 0)
    try? FileManager.default.removeItem(atPath: probe)
    // An epoch end also redraws curves.png: on small folders epochs are short and add up.
    let checkpointSeconds =
      Self.now() - saveStart
      + (try TrainingMonitor.timeCurves(at: options.output + "/.curves-probe.png.tmp.budget"))
    let total = BudgetPlan.iterations(
      budget: budget.seconds, elapsed: Self.now() - runStart, secondsPerStep: secondsPerStep,
      checkpointSeconds: checkpointSeconds, oneOff: max(0, times[0] - secondsPerStep),
      iterationsPerEpoch: iterationsPerEpoch, saveMinutes: options.saveEveryMinutes)
    guard total >= BudgetPlan.minimumIterations else {
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
  func makeLoader(folder: ImageFolder, config: MultiCropConfig, step: Int, perEpoch: Int)
    throws(RuntimeError) -> BatchLoader
  {
    do {
      return try BatchLoader(
        folder: folder, config: config, workers: options.workers, startEpoch: step / perEpoch,
        startBatch: step % perEpoch, rank: world.rank, worldSize: world.size)
    } catch {
      throw RuntimeError(error.message)
    }
  }
}
