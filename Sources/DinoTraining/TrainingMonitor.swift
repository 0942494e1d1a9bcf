import DinoFileGuard
import DinoRuntime
import Foundation

/// What one training iteration reports to the monitor.
public struct StepReport: Sendable {
  /// The epoch.
  public var epoch: Int
  /// The iteration within the epoch.
  public var iteration: Int
  /// The loss.
  public var loss: Float
  /// The scalars the step ran with.
  public var scalars: DINOTrainer.Scalars
  /// Wall seconds of the iteration (waiting for data, train_step, ema).
  public var seconds: Double
  /// Seconds of it spent waiting for the batch.
  public var dataWait: Double

  /// Creates a report.
  public init(
    epoch: Int, iteration: Int, loss: Float, scalars: DINOTrainer.Scalars, seconds: Double,
    dataWait: Double
  ) {
    self.epoch = epoch
    self.iteration = iteration
    self.loss = loss
    self.scalars = scalars
    self.seconds = seconds
    self.dataWait = dataWait
  }
}

/// Watches a training run: one JSON object per log interval in `OUTPUT/log.jsonl`, the
/// teacher-health warnings (`TeacherHealth`), the live status line on a terminal
/// (`ProgressLine`) and `OUTPUT/curves.png` (loss and teacher entropy against ln K)
/// rewritten at each epoch end.
///
/// The teacher statistics are `train_step` outputs (`teacher_entropy`,
/// `teacher_mean_entropy`, `center_norm`); a plan compiled before they existed trains
/// as before and its log lines leave those fields (and `kl`) out.
public final class TrainingMonitor {
  /// The log.jsonl path.
  public let logPath: String
  /// The curves.png path.
  public let curvesPath: String
  /// ln K, the entropy of a uniform teacher (K = the head's output size).
  public let lnK: Double
  /// Whether the plan's `train_step` outputs the teacher statistics.
  public let hasStatistics: Bool
  /// The live status line.
  public let progress: ProgressLine

  private let trainer: DINOTrainer
  private var epochs: Int
  private let iterationsPerEpoch: Int
  private var totalIterations: Int
  private let logEvery: Int
  private let batch: Int
  private var health: TeacherHealth
  private var window = Window()
  private var history: [(iteration: Int, loss: Double, entropy: Double?)] = []
  private var stepsRun = 0
  private var secondsRun = 0.0
  private let startIteration: Int

  /// The statistics of the steps since the last log line.
  private struct Window {
    var first = 0
    var steps = 0
    var loss = 0.0
    var seconds = 0.0
    var dataWait = 0.0
    var entropies: [Double] = []
    var meanEntropies: [Double] = []
    var centerNorm = Double.nan
  }

  /// Opens `<output>/log.jsonl` for appending (a resumed run keeps its earlier lines and
  /// plots them too).
  /// - Parameters:
  ///   - output: the run's folder.
  ///   - trainer: the trainer whose `train_step` outputs are read.
  ///   - live: draw the status line (stdout is a terminal).
  ///   - epochs: the run's epochs (the last may be partial).
  ///   - iterationsPerEpoch: iterations per epoch.
  ///   - totalIterations: the run's iterations (the schedules' length).
  ///   - startStep: the first global iteration this invocation trains.
  ///   - logEvery: the log interval (iterations; an epoch's last iteration also ends one).
  /// Takes the run's new length after a budget run re-sized its schedules.
  public func resize(totalIterations: Int, epochs: Int) {
    self.totalIterations = totalIterations
    self.epochs = epochs
  }

  public init(
    output: String, trainer: DINOTrainer, live: Bool, epochs: Int, iterationsPerEpoch: Int,
    totalIterations: Int, startStep: Int, logEvery: Int
  ) throws(RuntimeError) {
    logPath = output + "/log.jsonl"
    curvesPath = output + "/curves.png"
    self.trainer = trainer
    self.epochs = epochs
    self.iterationsPerEpoch = iterationsPerEpoch
    self.totalIterations = totalIterations
    self.logEvery = max(1, logEvery)
    batch = trainer.batch * trainer.worldSize  // the global batch of a data-parallel run
    progress = ProgressLine(live: live)
    let names = Set(try trainer.runtime.outputs(of: "train_step").map(\.name))
    hasStatistics = ["teacher_entropy", "teacher_mean_entropy", "center_norm"].allSatisfy {
      names.contains($0)
    }
    let k =
      trainer.hasCenter
      ? try trainer.runtime.bufferType("center").count : Int(trainer.hyper["out_dim"] ?? 1)
    lnK = log(Double(max(k, 1)))
    health = TeacherHealth(lnK: lnK)
    startIteration = startStep
    history = Self.readHistory(logPath, before: startIteration)
    do {
      try NoFollowAppend.checkAppendable(logPath)
    } catch {
      throw RuntimeError(error.message)
    }
  }

  /// Records one iteration (after `train_step` and `ema`); at the end of a log interval
  /// appends its JSON line and returns the warning lines to print. Redraws the status line.
  public func record(_ step: StepReport) throws(RuntimeError) -> [String] {
    let global = step.epoch * iterationsPerEpoch + step.iteration
    if window.steps == 0 { window.first = global }
    window.steps += 1
    window.loss += Double(step.loss)
    window.seconds += step.seconds
    window.dataWait += step.dataWait
    stepsRun += 1
    secondsRun += step.seconds
    if hasStatistics {
      let runtime = trainer.runtime
      window.entropies.append(
        Double(try runtime.output("teacher_entropy", program: "train_step")[0]))
      window.meanEntropies.append(
        Double(try runtime.output("teacher_mean_entropy", program: "train_step")[0]))
      window.centerNorm = Double(try runtime.output("center_norm", program: "train_step")[0])
    }
    let ends =
      step.iteration % logEvery == 0 || step.iteration == iterationsPerEpoch - 1
      || global == totalIterations - 1
    progress.show(statusText(step, global: global), force: ends)
    guard ends else { return [] }
    do {
      try NoFollowAppend.append(intervalJSON(step, global: global) + "\n", to: logPath)
    } catch {
      throw RuntimeError(error.message)
    }
    let entropy = window.entropies.isEmpty ? nil : mean(window.entropies)
    history.append((global, window.loss / Double(window.steps), entropy))
    var warnings: [String] = []
    if hasStatistics && window.steps >= logEvery {
      warnings = health.warnings(
        first: window.first, last: global, entropies: window.entropies,
        meanEntropies: window.meanEntropies)
    }
    window = Window()
    if !warnings.isEmpty { progress.end() }
    return warnings
  }

  /// Rewrites curves.png from every logged interval (call at each epoch end).
  public func writeCurves() throws(RuntimeError) {
    var plot = CurvePlot()
    plot.series.append(
      .init(
        name: "loss", color: (31, 119, 180),
        points: history.filter { $0.loss.isFinite }.map { (Double($0.iteration), $0.loss) }))
    let entropies = history.compactMap { entry in
      entry.entropy.flatMap { $0.isFinite ? (Double(entry.iteration), $0) : nil }
    }
    if !entropies.isEmpty {
      plot.series.append(.init(name: "teacher entropy", color: (255, 127, 14), points: entropies))
      plot.references.append(.init(name: "ln K", color: (214, 39, 40), y: lnK))
    }
    try plot.write(to: curvesPath)
  }

  /// Seconds one `curves.png` rewrite takes (a plot of `points` intervals written to
  /// `path`, then removed): part of each epoch end's cost that `--budget` plans for.
  public static func timeCurves(at path: String, points: Int = 1000) throws(RuntimeError)
    -> Double
  {
    let started = DispatchTime.now().uptimeNanoseconds
    var plot = CurvePlot()
    let xs = (0..<max(points, 2)).map(Double.init)
    plot.series.append(
      .init(name: "loss", color: (31, 119, 180), points: xs.map { ($0, 7 - $0 / 1e3) }))
    plot.series.append(
      .init(name: "teacher entropy", color: (255, 127, 14), points: xs.map { ($0, 6 + $0 / 1e3) }))
    plot.references.append(.init(name: "ln K", color: (214, 39, 40), y: 6.9))
    try plot.write(to: path)
    try? FileManager.default.removeItem(atPath: path)
    return Double(DispatchTime.now().uptimeNanoseconds - started) * 1e-9
  }

  /// Ends the status line (before the caller prints other lines).
  public func endLine() { progress.end() }

  /// `Epoch 0/2  it 12/937  loss 6.6512  lr 1.23e-04  412.3 img/s  ETA 0:12:34` (the
  /// loss averaged over the log interval so far, images/s and ETA over this invocation).
  private func statusText(_ step: StepReport, global: Int) -> String {
    let perStep = secondsRun / Double(max(stepsRun, 1))
    let remaining = totalIterations - global - 1
    return "Epoch \(step.epoch)/\(epochs)  it \(step.iteration + 1)/\(iterationsPerEpoch)  "
      + String(
        format: "loss %.4f  lr %.3e  %.1f img/s  ", window.loss / Double(max(window.steps, 1)),
        step.scalars.lr, Double(batch) / max(perStep, 1e-9))
      + "ETA \(TrainingLog.duration(perStep * Double(max(remaining, 0))))"
  }

  /// The interval's log.jsonl object.
  private func intervalJSON(_ step: StepReport, global: Int) -> String {
    func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
    let loss = window.loss / Double(window.steps)
    var fields: [(String, String)] = [
      ("iteration", "\(global)"), ("epoch", "\(step.epoch)"), ("steps", "\(window.steps)"),
      ("loss", number(loss)), ("lr", number(step.scalars.lr)),
      ("wd", number(step.scalars.weightDecay)), ("momentum", number(step.scalars.momentum)),
      ("teacher_temp", number(step.scalars.teacherTemp)),
    ]
    if hasStatistics {
      let entropy = mean(window.entropies)
      fields += [
        ("teacher_entropy", number(entropy)),
        ("teacher_mean_entropy", number(mean(window.meanEntropies))),
        ("kl", number(loss - entropy)), ("center_norm", number(window.centerNorm)),
      ]
    }
    fields += [
      ("images_per_s", number(Double(batch * window.steps) / max(window.seconds, 1e-9))),
      ("data_wait", number(window.dataWait)), ("ln_k", number(lnK)),
    ]
    return "{" + fields.map { "\"\($0.0)\": \($0.1)" }.joined(separator: ", ") + "}"
  }

  private func mean(_ values: [Double]) -> Double {
    values.isEmpty ? .nan : values.reduce(0, +) / Double(values.count)
  }

  /// The (iteration, loss, teacher entropy) of earlier log.jsonl lines before `limit`
  /// (a resumed run's past); unreadable lines are skipped.
  private static func readHistory(_ path: String, before limit: Int)
    -> [(iteration: Int, loss: Double, entropy: Double?)]
  {
    guard let data = FileManager.default.contents(atPath: path) else { return [] }
    var result: [(iteration: Int, loss: Double, entropy: Double?)] = []
    for line in data.split(separator: UInt8(ascii: "\n")) {
      guard case .object(let members)? = try? JSON.parse(ArraySlice(line)) else { continue }
      func value(_ key: String) -> Double? {
        guard case .number(let text)? = members.first(where: { $0.0 == key })?.1 else {
          return nil
        }
        return Double(text)
      }
      guard let iteration = value("iteration").map({ Int($0) }), iteration < limit,
        let loss = value("loss")
      else { continue }
      result.append((iteration, loss, value("teacher_entropy")))
    }
    return result
  }
}
