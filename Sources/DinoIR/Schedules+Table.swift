import Foundation

extension TrainingSchedules {
  /// A readable table of the schedules at each epoch start, after a header with the
  /// warm-up and freeze lengths in iterations (for `dinoc dump --schedules`).
  public func table() -> String {
    let temperature =
      teacherTempPerEpoch ? "per epoch" : "per iteration"
    var lines = [
      "schedules: \(totalIterations) iterations = \(Self.epochText(self)) epochs × "
        + "\(iterationsPerEpoch) iterations, peak lr \(peakLR)",
      "lr warm-up \(warmupIterations) iterations, last layer frozen \(freezeIterations) "
        + "iterations, teacher temperature warm-up \(teacherTempWarmupIterations) iterations "
        + "(\(temperature))",
      "epoch  first-iter  lr            weight_decay  momentum      teacher_temp  last_layer",
    ]
    for epoch in 0..<epochs {
      let it = epoch * iterationsPerEpoch
      func f(_ x: Double) -> String { String(format: "%-13.6g", x) }
      lines.append(
        String(format: "%-6d %-11d ", epoch, it) + f(lr(it)) + " " + f(weightDecay(it)) + " "
          + f(momentum(it)) + " " + f(teacherTemp(iteration: it)) + " "
          + (lastLayerGate(iteration: it) == 0 ? "frozen" : "trained"))
    }
    return lines.joined(separator: "\n")
  }

  /// The run's length in epochs, `2` or `1.25` (a partial last epoch).
  public static func epochText(_ schedules: TrainingSchedules) -> String {
    let total = schedules.totalIterations, perEpoch = schedules.iterationsPerEpoch
    if total % perEpoch == 0 { return "\(total / perEpoch)" }
    return String(format: "%.2f", Double(total) / Double(perEpoch))
  }
}
