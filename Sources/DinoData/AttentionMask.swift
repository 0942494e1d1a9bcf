/// Official DINO's attention threshold (visualize_attention.py): sort a head's attention
/// ascending, normalise it to sum 1, and keep the patches whose cumulative sum exceeds
/// 1 − `share`, i.e. the smallest set of highest-attention patches holding at least
/// `share` of the mass.
public enum AttentionMask {
  /// Which of `values` (one head's attention over the patches) the mask keeps.
  /// - Parameters:
  ///   - values: non-negative attention weights.
  ///   - share: the share of the mass to keep, in (0, 1].
  /// - Returns: one flag per value. Equal values keep their order (a stable sort).
  public static func keep(_ values: [Float], share: Double) -> [Bool] {
    let order = values.indices.sorted { (values[$0], $0) < (values[$1], $1) }
    let total = values.reduce(0.0) { $0 + Double($1) }
    var kept = [Bool](repeating: false, count: values.count)
    guard total > 0 else { return kept }
    var cumulative = 0.0
    for index in order {
      cumulative += Double(values[index]) / total
      kept[index] = cumulative > 1 - share
    }
    return kept
  }
}
