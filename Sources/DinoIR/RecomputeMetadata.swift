/// The metadata key of `rematerialize`'s summary: `values=V nodes=N saved=B flops=F
/// step_flops=S` (values recomputed, nodes inserted, arena bytes saved, the estimated
/// FLOPs of the recompute and of the whole step).
public let recomputeMetadataKey = "recompute"

/// The metadata key listing what `rematerialize` recomputed: `op type ×count`, joined by
/// `, `, largest first.
public let recomputeValuesMetadataKey = "recompute.values"
