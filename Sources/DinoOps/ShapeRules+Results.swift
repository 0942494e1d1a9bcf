extension OpKind {
  /// The types of the results after the first of an op with several results (empty for
  /// every op with one result).
  ///
  /// Result k ≥ 1 of node `%i` is the value of a `result(%i) {index=k}` node, and the
  /// verifier keeps those nodes directly after `%i`, in order: the kernel writes result k
  /// into the tensor of value `%(i+k)`.
  /// - Parameters:
  ///   - operands: the operand types (already checked by `resultType`).
  ///   - attrs: the node's attributes.
  /// - Returns: the types of results 1, 2, … in order.
  public func extraResultTypes(_ operands: [TensorType], _ attrs: Attributes) -> [TensorType] {
    Self.extraResultRules[self]?(operands, attrs) ?? []
  }

  /// The ops with several results and the types of their results after the first: the one
  /// list of such ops (a new one adds its entry here; `OpTableTests` checks each entry).
  static let extraResultRules: [OpKind: @Sendable ([TensorType], Attributes) -> [TensorType]] = [
    // The mean and 1/√(var + eps) of every row, interleaved.
    .layerNormTrain: { operands, _ in
      [TensorType(.f32, Array(operands[0].shape.dropLast()) + [2])]
    },
    // The pre-activation x·wᵀ + b, which gelu_bwd reads.
    .linearGelu: { operands, _ in
      let out = operands[1].shape.first ?? 0
      return [TensorType(.f32, Array(operands[0].shape.dropLast()) + [out])]
    },
    // Each softmax row's log-sum-exp [B, heads, Q], which attention_bwd reads.
    .attention: { operands, attrs in
      let shape = operands[0].shape
      guard shape.count == 3 else { return [] }
      return [TensorType(.f32, [shape[0], attrs.int("heads"), attrs.int("queries")])]
    },
    // dv [N, K], then dg [N, 1] when grad_g = 1.
    .linearWeightNormBwd: { operands, attrs in
      guard operands.count == 4 else { return [] }
      let gradients = [operands[2]] + (attrs.int("grad_g") != 0 ? [operands[3]] : [])
      return gradients.map { TensorType(.f32, $0.shape) }
    },
    // dgamma and dbeta.
    .layerNormGrad: { operands, _ in
      let d = operands[1].shape.last ?? 1
      return [TensorType(.f32, [d]), TensorType(.f32, [d])]
    },
  ]
}
