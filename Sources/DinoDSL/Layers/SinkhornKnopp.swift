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
/// - Parameters:
///   - logits: the teacher logits, one row per sample.
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
  var z = logits / temperature
  for _ in 0..<iterations {
    z = logSoftmax(
      z.transposed(file: file, line: line, column: column),
      file: file, line: line, column: column
    ).transposed(file: file, line: line, column: column)
    z = logSoftmax(z, file: file, line: line, column: column)
  }
  return z
}
