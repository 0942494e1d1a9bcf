import DinoOps
import Foundation

/// What `DINOLoss.withStatistics` returns: the loss and, for a valid layout, the teacher
/// statistics.
public struct DINOLossOutputs {
  /// The scalar loss `f32[]`.
  public let loss: Tensor
  /// The statistics, or nil when the logits' layout was reported as an error.
  public let statistics: TeacherStatistics?
}

/// Scalars that tell whether DINO's teacher is sharp, uniform or collapsed, computed from
/// the step's own centred, sharpened teacher logits `z = (t − center)/τt` `[2B, K]` and
/// `P_t = softmax(z)`; every value is `f32[]` in nats.
///
/// The op set has no `log`, so logarithms come from `log_softmax`: a row's
/// `log P_t = log_softmax(z)`, and the log of the batch mean,
/// `log mean_b P_t[b,k] = lse_b(log P_t[b,k]) − log 2B`, from the identity
/// `lse(x) = x − log_softmax(x)` averaged under the weights `softmax(x)`, which stresses the
/// rows where `x` is largest and therefore exact to float32 rounding. A probability that
/// underflows to 0 multiplies a finite logarithm, so nothing is `0·(−∞)`.
public struct TeacherStatistics {
  /// Mean over the 2B teacher rows of `H(P_t) = −Σ_k P_t log P_t` (`ln K`: uniform).
  public let entropy: Tensor
  /// `H(mean_b P_t)`, the entropy of the batch-mean teacher distribution (near 0: every
  /// image goes to one dimension, a collapse).
  public let meanEntropy: Tensor
  /// `‖center‖₂` of the center this step used (before its update).
  public let centerNorm: Tensor

  /// Records the statistics.
  /// - Parameters:
  ///   - logits: `z = (t − center)/τt`, `[2B, K]`.
  ///   - probabilities: `softmax(z)`, the step's teacher distribution.
  ///   - negated: `−softmax(z)`.
  ///   - center: the center `[1, K]` before its update.
  /// - Returns: the three scalars.
  static func record(
    logits z: Tensor, probabilities p: Tensor, negated negP: Tensor, center: Tensor
  ) -> TeacherStatistics {
    let rows = Double(z.shape[0])
    let logP = logSoftmax(z)
    let entropy = mean(sum(negP * logP, axis: 1), axis: 0)
    // lse over the rows of log P_t, per dimension k: [K, 2B] rows, weighted by softmax.
    let columns = logP.transposed()
    let lse = sum(softmax(columns) * (columns - logSoftmax(columns)), axis: 1)
    let meanP = mean(p, axis: 0)
    // −Σ p̄ (lse − ln 2B) = ln 2B · Σ p̄ − Σ p̄ · lse: ln 2B as a `scale` factor keeps double
    // precision, where a constant would be a float32.
    let meanEntropy = sum(meanP, axis: 0) * Foundation.log(rows) - sum(meanP * lse, axis: 0)
    let centerNorm = sum(sum(center * l2Normalize(center), axis: 1), axis: 0)
    return TeacherStatistics(entropy: entropy, meanEntropy: meanEntropy, centerNorm: centerNorm)
  }
}
