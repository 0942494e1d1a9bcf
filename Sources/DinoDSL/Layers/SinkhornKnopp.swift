import DinoOps

/// How the DINO loss turns teacher logits into targets.
public enum TeacherCentering: Sendable, Equatable {
  /// Official DINO v1: `softmax((t − center) / τt)` with the running center (momentum 0.9).
  case center
  /// DINOv2's Sinkhorn-Knopp centering (`sinkhorn_knopp_teacher`): the targets are the
  /// `[rows, K]` matrix `exp(t / τt)` scaled alternately so that every prototype column gets
  /// mass `1/K` and every sample row mass `1/rows`, `iterations` times, then multiplied by
  /// `rows` (each row sums to 1). It keeps the teacher sharp per sample while spreading the
  /// batch over the prototypes, where the running center lets a small-batch teacher go flat.
  /// A departure from DINO v1; the running center is still updated (and checkpointed) but
  /// not used.
  case sinkhornKnopp(iterations: Int)
}

/// DINOv2's Sinkhorn-Knopp teacher targets of `logits [rows, K]` at temperature
/// `temperature` (`f32[]`), as `TeacherCentering.sinkhornKnopp` describes.
///
/// The start `exp(t/τ) / Σ exp(t/τ)` over the whole matrix is one softmax over the flattened
/// logits (the global maximum is subtracted first, which the normalisation cancels).
/// - Parameters:
///   - logits: the teacher logits, one row per sample.
///   - temperature: `τt`.
///   - iterations: the number of (column, row) normalisation rounds (DINOv2: 3).
/// - Returns: the targets `[rows, K]`, rows summing to 1.
public func sinkhornKnopp(
  _ logits: Tensor, temperature: Tensor, iterations: Int,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  guard logits.rank == 2 else {
    session.error("sinkhornKnopp: logits must be [rows, K], got \(shapeText(logits.shape))", at: loc)
    return session.invalid(logits.shape, at: loc)
  }
  guard iterations >= 1 else {
    session.error("sinkhornKnopp: iterations must be at least 1, got \(iterations)", at: loc)
    return session.invalid(logits.shape, at: loc)
  }
  let rows = logits.shape[0]
  let k = logits.shape[1]
  let flat = reshape(logits / temperature, [1, rows * k], file: file, line: line, column: column)
  var q = reshape(
    softmax(flat, file: file, line: line, column: column), [rows, k],
    file: file, line: line, column: column)
  for _ in 0..<iterations {
    q = scale(
      q / sum(q, axis: 0, keepDims: true, file: file, line: line, column: column),
      by: 1 / Double(k), file: file, line: line, column: column)
    q = scale(
      q / sum(q, axis: 1, keepDims: true, file: file, line: line, column: column),
      by: 1 / Double(rows), file: file, line: line, column: column)
  }
  return scale(q, by: Double(rows), file: file, line: line, column: column)
}
