import Foundation

/// Whether DINO's teacher is useful over a log window, from its per-step entropies (nats)
/// and `ln K`, the entropy of the uniform distribution over the head's K outputs.
///
/// - uniform: every step of the window has a per-sample teacher entropy of at least
///   `uniformFraction · ln K` (0.98: within 2 % of uniform): the targets carry no
///   information and the loss cannot fall;
/// - collapsed: every step has an entropy of the batch-mean teacher distribution below
///   `collapseFraction · ln K` (0.05; for K = 1024, 0.35 nats, about 1.4 dimensions in use):
///   every image is sent to the same few dimensions.
///
/// A warning is given when a full window (`--log-every` steps) meets a condition that the
/// previous full window did not, so one episode gives one line.
struct TeacherHealth {
  /// Per-sample entropy at or above this fraction of ln K is "uniform".
  static let uniformFraction = 0.98
  /// Batch-mean entropy below this fraction of ln K is "collapsed".
  static let collapseFraction = 0.05

  /// ln K.
  let lnK: Double
  private var wasUniform = false
  private var wasCollapsed = false

  /// Watches a teacher with `lnK = ln(out_dim)`.
  init(lnK: Double) { self.lnK = lnK }

  /// The warning lines for one full window of steps `first…last` (global iterations) with
  /// these per-step entropies; updates the episode state.
  mutating func warnings(
    first: Int, last: Int, entropies: [Double], meanEntropies: [Double]
  ) -> [String] {
    guard !entropies.isEmpty, !meanEntropies.isEmpty else { return [] }
    let uniform = entropies.allSatisfy { $0 >= Self.uniformFraction * lnK }
    let collapsed = meanEntropies.allSatisfy { $0 < Self.collapseFraction * lnK }
    var lines: [String] = []
    let span = "iterations \(first)-\(last)"
    if uniform && !wasUniform {
      let low = entropies.min()!
      lines.append(
        "warning: \(span): the teacher is within 2 % of uniform "
          + fmt("(per-sample entropy >= %.3f of ln K = %.3f nats): ", low, lnK)
          + "its targets carry almost no information (a lower teacher_temp or out_dim, "
          + "or a slower center, sharpens it)")
    }
    if collapsed && !wasCollapsed {
      let high = meanEntropies.max()!
      lines.append(
        "warning: \(span): the teacher has collapsed "
          + fmt("(entropy of its batch-mean distribution <= %.3f, under 5 %% of ", high, lnK)
          + fmt("ln K = %.3f nats): every image goes to the same few dimensions", lnK, 0))
    }
    wasUniform = uniform
    wasCollapsed = collapsed
    return lines
  }

  private func fmt(_ format: String, _ a: Double, _ b: Double) -> String {
    String(format: format, a, b)
  }
}
