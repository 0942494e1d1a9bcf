import DinoIR
import Foundation
import XCTest

/// `TrainingSchedules`: whole-epoch lengths reproduce official DINO's arrays bit for bit;
/// fractional and budget-scaled lengths move the warm-up, freeze and temperature ramp ends.
final class TrainingSchedulesTests: XCTestCase {
  /// A plan's schedule keys with the given lengths.
  static func hyper(
    epochs: Double, warmup: Double, freeze: Double, teacherWarmup: Double, batch: Double = 64
  ) -> [String: Double] {
    [
      "lr": 0.0005, "min_lr": 1e-6, "batch": batch, "epochs": epochs, "warmup_epochs": warmup,
      "weight_decay": 0.04, "weight_decay_end": 0.4, "momentum_teacher": 0.996,
      "teacher_temp": 0.07, "warmup_teacher_temp": 0.04,
      "warmup_teacher_temp_epochs": teacherWarmup, "freeze_last_layer": freeze,
    ]
  }

  // A direct transcription of official DINO (utils.cosine_scheduler, numpy.linspace, the
  // DINOLoss teacher_temp_schedule and the `epoch < freeze_last_layer` test), as arrays.

  static func linspace(_ start: Double, _ stop: Double, _ num: Int) -> [Double] {
    if num <= 0 { return [] }
    if num == 1 { return [start] }
    let step = (stop - start) / Double(num - 1)
    var y = (0..<num).map { Double($0) * step + start }
    y[num - 1] = stop
    return y
  }

  static func cosineScheduler(
    _ base: Double, _ final: Double, _ epochs: Int, _ niter: Int, warmupEpochs: Int
  ) -> [Double] {
    let warmupIters = warmupEpochs * niter
    let warmup = linspace(0, base, warmupIters)
    let count = epochs * niter - warmupIters
    let schedule = (0..<count).map {
      final + 0.5 * (base - final) * (1 + cos(Double.pi * Double($0) / Double(count)))
    }
    return warmup + schedule
  }

  static func teacherTempSchedule(_ warm: Double, _ temp: Double, _ warmEpochs: Int, _ n: Int)
    -> [Double]
  {
    linspace(warm, temp, warmEpochs) + Array(repeating: temp, count: n - warmEpochs)
  }

  /// Whole-epoch lengths: every value of every iteration equals the transcription exactly.
  func testWholeEpochsReproduceOfficialArraysBitwise() throws {
    for (epochs, niter, warmup, freeze, teacherWarmup) in [
      (3, 7, 1, 1, 2), (5, 4, 0, 0, 0), (4, 10, 4, 2, 4), (1, 13, 1, 1, 1), (6, 1, 2, 3, 5),
    ] {
      let hyper = Self.hyper(
        epochs: Double(epochs), warmup: Double(warmup), freeze: Double(freeze),
        teacherWarmup: Double(teacherWarmup))
      let s = try TrainingSchedules(hyper: hyper, iterationsPerEpoch: niter)
      let peak = 0.0005 * 64 / 256
      let lr = Self.cosineScheduler(peak, 1e-6, epochs, niter, warmupEpochs: warmup)
      let wd = Self.cosineScheduler(0.04, 0.4, epochs, niter, warmupEpochs: 0)
      let momentum = Self.cosineScheduler(0.996, 1, epochs, niter, warmupEpochs: 0)
      let temps = Self.teacherTempSchedule(0.04, 0.07, teacherWarmup, epochs)
      XCTAssertEqual(s.totalIterations, epochs * niter)
      XCTAssertEqual(s.epochs, epochs)
      XCTAssertTrue(s.teacherTempPerEpoch)
      let label = "\(epochs)×\(niter) w\(warmup) f\(freeze) t\(teacherWarmup)"
      for it in 0..<epochs * niter {
        let epoch = it / niter
        XCTAssertEqual(s.lr(it).bitPattern, lr[it].bitPattern, "lr \(it) \(label)")
        XCTAssertEqual(s.weightDecay(it).bitPattern, wd[it].bitPattern, "wd \(it) \(label)")
        XCTAssertEqual(s.momentum(it).bitPattern, momentum[it].bitPattern, "m \(it) \(label)")
        XCTAssertEqual(
          s.teacherTemp(iteration: it).bitPattern, temps[epoch].bitPattern, "τ \(it) \(label)")
        XCTAssertEqual(s.lastLayerGate(iteration: it), epoch < freeze ? 0 : 1, "gate \(label)")
      }
    }
  }

  /// Fractions end the warm-up, the freeze and the temperature ramp at round(L × niter);
  /// the ramp is then per iteration and reaches the final temperature at its last step.
  func testFractionsMoveTheEndsToTheExpectedIteration() throws {
    let hyper = Self.hyper(epochs: 2, warmup: 0.15, freeze: 0.5, teacherWarmup: 0.3)
    let s = try TrainingSchedules(hyper: hyper, iterationsPerEpoch: 100)
    XCTAssertEqual(s.warmupIterations, 15)
    XCTAssertEqual(s.freezeIterations, 50)
    XCTAssertEqual(s.teacherTempWarmupIterations, 30)
    XCTAssertFalse(s.teacherTempPerEpoch)
    let peak = 0.0005 * 64 / 256
    XCTAssertEqual(s.lr(0), 0)
    XCTAssertEqual(s.lr(14), peak)  // the last warm-up iteration is the peak (linspace)
    XCTAssertEqual(s.lr(15), peak)  // the cosine's first value
    XCTAssertLessThan(s.lr(16), peak)
    XCTAssertEqual(s.lr(7), peak * 7 / 14, accuracy: 1e-15)
    XCTAssertEqual(s.lastLayerGate(iteration: 49), 0)
    XCTAssertEqual(s.lastLayerGate(iteration: 50), 1)
    XCTAssertEqual(s.teacherTemp(iteration: 0), 0.04)
    XCTAssertEqual(s.teacherTemp(iteration: 1), 0.04 + 0.03 / 29, accuracy: 1e-15)
    XCTAssertLessThan(s.teacherTemp(iteration: 28), 0.07)
    XCTAssertEqual(s.teacherTemp(iteration: 29), 0.07)
    XCTAssertEqual(s.teacherTemp(iteration: 30), 0.07)
    // The cosine spans the iterations after the warm-up.
    let last = s.totalIterations - 1
    XCTAssertEqual(
      s.lr(last), 1e-6 + 0.5 * (peak - 1e-6) * (1 + cos(Double.pi * 184 / 185)))
  }

  /// --epochs N keeps lengths in epochs over N epochs; a budget's explicit total scales
  /// every length with the run (w · T / E) and may end mid-epoch.
  func testEpochOverrideAndScaledTotal() throws {
    let hyper = Self.hyper(epochs: 10, warmup: 2, freeze: 1, teacherWarmup: 3)
    let longer = try TrainingSchedules(hyper: hyper, iterationsPerEpoch: 5, epochs: 4)
    XCTAssertEqual(longer.totalIterations, 20)
    XCTAssertEqual(longer.warmupIterations, 10)
    XCTAssertEqual(longer.freezeIterations, 5)
    let peak = 0.0005 * 64 / 256  // the cosine ends at N epochs, not the plan's 10
    XCTAssertEqual(longer.lr(19), 1e-6 + 0.5 * (peak - 1e-6) * (1 + cos(Double.pi * 9 / 10)))
    XCTAssertThrowsError(try TrainingSchedules(hyper: hyper, iterationsPerEpoch: 5, epochs: 2)) {
      error in
      XCTAssertTrue("\(error)".contains("warmup_teacher_temp_epochs 3 must be within 0...2"))
    }

    let budget = try TrainingSchedules(hyper: hyper, iterationsPerEpoch: 7, totalIterations: 50)
    XCTAssertEqual(budget.totalIterations, 50)
    XCTAssertEqual(budget.epochs, 8)  // 7 full epochs and a partial one
    XCTAssertEqual(budget.warmupIterations, 10)  // 2 · 50 / 10
    XCTAssertEqual(budget.freezeIterations, 5)
    XCTAssertEqual(budget.teacherTempWarmupIterations, 15)
    XCTAssertFalse(budget.teacherTempPerEpoch)
    XCTAssertEqual(budget.teacherTemp(iteration: 14), 0.07)
    XCTAssertLessThan(budget.teacherTemp(iteration: 13), 0.07)
    XCTAssertEqual(budget.momentum(49), 1 - 0.5 * 0.004 * (1 + cos(Double.pi * 49 / 50)))
    XCTAssertEqual(TrainingSchedules.epochText(budget), "7.14")
  }

  /// Absurd sizes are refused in one line, without allocating; the table prints the
  /// lengths in iterations and one row per epoch.
  func testRefusesAbsurdSizesAndPrintsTheTable() throws {
    let hyper = Self.hyper(epochs: 1_000, warmup: 10, freeze: 1, teacherWarmup: 0)
    XCTAssertThrowsError(
      try TrainingSchedules(hyper: hyper, iterationsPerEpoch: 1_000_000)
    ) { error in
      XCTAssertTrue("\(error)".contains("more than 100000000 iterations"), "\(error)")
      XCTAssertFalse("\(error)".contains("\n"))
    }
    XCTAssertThrowsError(
      try TrainingSchedules(hyper: hyper, iterationsPerEpoch: 1, totalIterations: 200_000_000))
    let table = try TrainingSchedules(
      hyper: Self.hyper(epochs: 2, warmup: 0.5, freeze: 1, teacherWarmup: 0),
      iterationsPerEpoch: 10
    ).table()
    let lines = table.split(separator: "\n")
    XCTAssertEqual(lines.count, 5, table)
    XCTAssertTrue(lines[1].hasPrefix("lr warm-up 5 iterations, last layer frozen 10"), table)
    XCTAssertTrue(lines[4].hasPrefix("1      10 "), table)
  }
}
