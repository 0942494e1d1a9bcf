import DinoRuntime
import Foundation

/// A series with a sliding-window median and a global average, as official DINO's
/// `utils.SmoothedValue` (window 20, printed `median (global_avg)`).
struct SmoothedValue {
  /// The window length.
  let window: Int
  private(set) var recent: [Double] = []
  private(set) var total = 0.0
  private(set) var count = 0

  init(window: Int = 20) { self.window = window }

  /// Adds one value.
  mutating func update(_ value: Double) {
    recent.append(value)
    if recent.count > window { recent.removeFirst() }
    total += value
    count += 1
  }

  /// The median of the window (torch.median: the lower middle for even counts).
  var median: Double {
    if recent.isEmpty { return .nan }
    let sorted = recent.sorted()
    return sorted[(sorted.count - 1) / 2]
  }

  /// The average since the start.
  var globalAverage: Double { count == 0 ? .nan : total / Double(count) }

  /// The last value.
  var last: Double { recent.last ?? .nan }
}

/// The text official DINO's `MetricLogger` prints, and the per-epoch JSON of `log.txt`.
enum TrainingLog {
  /// `Epoch: [e/E]  [ it/I]  eta: h:mm:ss  loss: median (avg)  lr: …  wd: …  time: …
  /// data: …` (two spaces between fields, the iteration padded to the width of I).
  static func iterationLine(
    epoch: Int, epochs: Int, iteration: Int, iterations: Int, eta: Double,
    loss: SmoothedValue, lr: Double, wd: Double, seconds: Double, dataWait: Double
  ) -> String {
    let width = String(iterations).count
    let it =
      String(repeating: " ", count: max(0, width - String(iteration).count))
      + String(iteration)
    return [
      "Epoch: [\(epoch)/\(epochs)]", "[\(it)/\(iterations)]", "eta: \(duration(eta))",
      String(format: "loss: %.6f (%.6f)", loss.median, loss.globalAverage),
      String(format: "lr: %.4e", lr), String(format: "wd: %.6f", wd),
      String(format: "time: %.4f", seconds), String(format: "data: %.4f", dataWait),
    ].joined(separator: "  ")
  }

  /// `h:mm:ss`, as Python's `str(datetime.timedelta(seconds=int(s)))`.
  static func duration(_ seconds: Double) -> String {
    let s = seconds.isFinite ? max(0, Int(seconds)) : 0
    return String(format: "%d:%02d:%02d", s / 3600, s / 60 % 60, s % 60)
  }

  /// One `log.txt` line: `{"train_loss": …, "train_lr": …, "train_wd": …, "epoch": e, …}`.
  static func epochJSON(
    epoch: Int, loss: Double, lr: Double, wd: Double, iterations: Int, seconds: Double,
    dataWait: Double
  ) -> String {
    func number(_ x: Double) -> String { x.isFinite ? "\(x)" : "null" }
    return "{\"train_loss\": \(number(loss)), \"train_lr\": \(number(lr)), "
      + "\"train_wd\": \(number(wd)), \"epoch\": \(epoch), \"iterations\": \(iterations), "
      + "\"seconds\": \(number(seconds)), \"data_wait_seconds\": \(number(dataWait))}"
  }
}
