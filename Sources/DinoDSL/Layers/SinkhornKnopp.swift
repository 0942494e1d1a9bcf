import DinoOps

/// How the DINO loss turns teacher logits into targets.
public enum TeacherCentering: Sendable, Equatable {
  /// Official DINO v1: `softmax((t − center) / τt)` with the running center.
  case center
  /// DINOv2's Sinkhorn-Knopp centering (`sinkhorn_knopp_teacher`): the `[rows, K]` matrix
  /// `exp(t / τt)` is scaled alternately so that every prototype column gets the same mass
  /// and every sample row the same mass, `iterations` times (DINOv2: 3), and each row is then
  /// the sample's target distribution. It keeps the teacher sharp per sample while spreading
  /// the batch over the prototypes, where the running center lets a small-batch teacher go
  /// flat. A departure from DINO v1: the running center is still updated (and
  /// checkpointed) but not used.
  case sinkhornKnopp(iterations: Int)
}

extension TeacherCentering: OptionValue, CustomStringConvertible {
  /// Parses `center`, `sinkhorn` (3 iterations, DINOv2's) or `sinkhorn:N`.
  public init?(optionText: String) {
    let parts = optionText.lowercased().split(separator: ":", omittingEmptySubsequences: false)
    switch (parts.first.map(String.init), parts.count) {
    case ("center", 1): self = .center
    case ("sinkhorn", 1): self = .sinkhornKnopp(iterations: 3)
    case ("sinkhorn", 2):
      guard let n = Int(parts[1]), n >= 1 else { return nil }
      self = .sinkhornKnopp(iterations: n)
    default: return nil
    }
  }
  /// `center, sinkhorn or sinkhorn:N`.
  public static var optionTypeDescription: String { "center, sinkhorn or sinkhorn:N (N ≥ 1)" }
  /// `center` or `sinkhorn:N`, as `-D` takes it.
  public var description: String {
    switch self {
    case .center: "center"
    case .sinkhornKnopp(let iterations): "sinkhorn:\(iterations)"
    }
  }
}

/// DINOv2's Sinkhorn-Knopp teacher targets of `logits [rows, K]` at temperature
/// `temperature` (`f32[]`), as logits `z` whose row softmax is the target (`softmax(z)` =
/// `exp(z)`: every row of `z` is already log-normalised).
///
/// Computed in the log domain, which is the same arithmetic as DINOv2's
/// `Q = exp(t/τ)/ΣQ; repeat { Q /= Σ_b Q; Q /= K; Q /= Σ_k Q; Q /= B }; Q *= B` without its
/// overflow: dividing the columns by their sums is `log_softmax` over the rows axis, dividing
/// the rows is `log_softmax` over the last axis, and the constant factors 1/K, 1/B and B
/// cancel in the final row normalisation.
///
/// Under data parallelism the columns (prototypes) span the global batch, as DINOv2 all-reduces
/// them: in every iteration each process's column log-sum-exp `a_k` (over its own rows) is
/// turned into the global one through `all_reduce_sum` of the per-prototype sums
/// `exp(a_k − m_k)` (`m_k`, the mean of `a_k` over the processes, keeps them finite); the
/// column step adds `log(exp(a_k − m_k) / Σ_processes exp(a_k − m_k))` to the local
/// `log_softmax`. A process alone adds `log 1 = 0`: the arithmetic of one process is the
/// purely local one.
/// - Parameters:
///   - logits: the teacher logits, one row per sample (this process's rows).
///   - temperature: `τt`.
///   - iterations: the number of (column, row) normalisation rounds, at least 1.
/// - Returns: `[rows, K]` log-targets.
public func sinkhornKnoppLogits(
  _ logits: Tensor, temperature: Tensor, iterations: Int,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  guard logits.rank == 2 else {
    if logits.isValid {
      session.error(
        "sinkhornKnopp: logits must be [rows, K], got \(shapeText(logits.shape))", at: loc)
    }
    return session.invalid(logits.shape, at: loc)
  }
  guard iterations >= 1 else {
    session.error("sinkhornKnopp: iterations must be at least 1, got \(iterations)", at: loc)
    return session.invalid(logits.shape, at: loc)
  }
  let one = constant(1.0, file: file, line: line, column: column)
  let processes = allReduceSum(one, file: file, line: line, column: column)
  var z = logits / temperature
  for _ in 0..<iterations {
    let local = logSoftmax(
      z.transposed(file: file, line: line, column: column),
      file: file, line: line, column: column
    ).transposed(file: file, line: line, column: column)
    z = local + processShare(z, local, processes, file: file, line: line, column: column)
    z = logSoftmax(z, file: file, line: line, column: column)
  }
  return z
}

/// `[1, K]`: `log(exp(a_k − m_k) / Σ_processes exp(a_k − m_k))`, the share of this process's
/// rows in prototype k's mass over the global batch, where `a_k = z_0k − local_0k` is the
/// column log-sum-exp of this process's rows and `m_k` its mean over the `processes`. Alone,
/// the share is `exp(0) / exp(0) = 1` and its log exactly 0.
private func processShare(
  _ z: Tensor, _ local: Tensor, _ processes: Tensor, file: String, line: UInt, column: UInt
) -> Tensor {
  let a = slice(z - local, axis: 0, 0..<1, file: file, line: line, column: column)
  let m = allReduceSum(a, file: file, line: line, column: column) / processes
  let mass = exp(a - m, file: file, line: line, column: column)
  let total = allReduceSum(mass, file: file, line: line, column: column)
  return log(mass / total, file: file, line: line, column: column)
}
