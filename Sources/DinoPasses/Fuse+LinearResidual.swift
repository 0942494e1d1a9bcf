import DinoIR

/// `program` with every `add(r, linear(x, w, b))` computed by one
/// `linear_residual(x, w, b, r)` and every `add(r, mul(linear(x, w, b), m))`, m of shape
/// `[B, 1, ..., 1]` (the drop-path mask of a residual branch), by one
/// `linear_residual_scaled(x, w, b, r, m)` (either add operand order, no broadcasting of r,
/// the linear and the mul read by nothing else): the GEMM's epilogue adds the bias, scales
/// each row by its image's m, then adds the residual, to each block after its sgemm, so
/// neither the linear's result nor the product is stored. The mul's and the add's locations
/// go to `absorbed`. The roundings are the unfused ones in the same order (x·wᵀ, + b, · m,
/// + r; mul and add commute), so the values are bitwise the same. The backward is untouched:
/// the mask's product with the incoming gradient stays a `mul`.
///
/// Only where x outlives the add (the backward reads it for the weight's gradient): in
/// forward-only code `linear` frees x before the add, which can then run in place over r,
/// while the fused kernel would hold x, r and its result at once (+4.7 MiB on fmnist,
/// measured).
///
/// Not done: accumulating into the residual stream's own buffer (sgemm with beta = 1) where
/// the residual dies at the add: it rounds (r + x·wᵀ) + b instead of r + (x·wᵀ + b), and
/// in the training step the residual stream lives on anyway (the layer norm's backward
/// reads it).
func fuseLinearResidual(_ program: Program) -> Program {
  let users = program.users()
  let outputs = Set(program.outputs.map(\.value.index))
  var fusionOf: [Int: ResidualFusion] = [:]  // add node → its parts
  var absorbedNodes = Set<Int>()
  /// Whether value `v` stays live after node `position` (read later, an output, or not in
  /// the arena), so that holding it while the fused kernel writes costs nothing.
  func outlives(_ v: Int, _ position: Int) -> Bool {
    !program.nodes[v].isTransient || outputs.contains(v)
      || users[v].contains { $0.index > position }
  }
  /// Whether `v` is read only by `reader` and is no output: the fusion may drop it.
  func onlyFeeds(_ v: Int, _ reader: Int) -> Bool {
    users[v].map(\.index) == [reader] && !outputs.contains(v) && !absorbedNodes.contains(v)
  }
  for (index, node) in program.nodes.enumerated() where node.op == .add {
    let operands = node.operands
    guard operands.count == 2, operands.allSatisfy({ program[$0].type == node.type }) else {
      continue
    }
    for k in [1, 0] {
      guard onlyFeeds(operands[k].index, index),
        let fusion = residualFusion(
          program, branch: operands[k].index, residual: operands[1 - k], onlyFeeds: onlyFeeds)
      else { continue }
      guard outlives(program.nodes[fusion.linear].operands[0].index, index) else { continue }
      fusionOf[index] = fusion
      absorbedNodes.formUnion([fusion.linear] + (fusion.scaleNode.map { [$0] } ?? []))
      break
    }
  }
  var replacement: [Int: ((ValueID) -> ValueID) -> Node] = [:]
  for (index, fusion) in fusionOf {
    let (add, linear) = (program.nodes[index], program.nodes[fusion.linear])
    replacement[index] = { rename in
      var node = linear
      node.op = fusion.scale == nil ? .linearResidual : .linearResidualScaled
      node.operands = (linear.operands + [fusion.residual] + (fusion.scale.map { [$0] } ?? []))
        .map(rename)
      node.type = add.type
      node.isBackward = add.isBackward
      let others = (fusion.scaleNode.map { [program.nodes[$0].loc] } ?? []) + [add.loc]
      (node.loc, node.absorbed) = fusedLocations(linear.loc, others)
      return node
    }
  }
  return program.rebuilt(dropping: absorbedNodes, replacing: replacement)
}

/// The parts of one residual add that fuses into its linear.
struct ResidualFusion {
  /// The `linear` node.
  var linear: Int
  /// The add's other operand.
  var residual: ValueID
  /// The `mul` between the linear and the add (`linear_residual_scaled`), if any.
  var scaleNode: Int?
  /// The mul's per-image scale `[B, 1, ..., 1]`, if any.
  var scale: ValueID?
}

/// How the add's operand `branch` fuses: a `linear`, or `mul(linear, m)` with m one value per
/// leading index and the linear read by the mul alone; nil when it does not.
private func residualFusion(
  _ program: Program, branch: Int, residual: ValueID, onlyFeeds: (Int, Int) -> Bool
) -> ResidualFusion? {
  let node = program.nodes[branch]
  if node.op == .linear { return ResidualFusion(linear: branch, residual: residual) }
  guard node.op == .mul, node.operands.count == 2 else { return nil }
  let l = node.operands[0].index, m = node.operands[1]
  let shape = node.type.shape, scale = program[m].type.shape
  guard program.nodes[l].op == .linear, program[node.operands[0]].type == node.type,
    onlyFeeds(l, branch), shape.count >= 2,
    scale == [shape[0]] + Array(repeating: 1, count: shape.count - 1)
  else { return nil }
  return ResidualFusion(linear: l, residual: residual, scaleNode: branch, scale: m)
}

/// The location of a fused node whose first node is at `own` and which absorbs nodes at
/// `others`: `own` (or the first known one) and the other distinct known ones, in order.
func fusedLocations(_ own: SourceLoc, _ others: [SourceLoc]) -> (SourceLoc, [SourceLoc]) {
  let known = ([own] + others).filter { $0 != .unknown }
  guard let first = known.first else { return (.unknown, []) }
  var absorbed: [SourceLoc] = []
  for loc in known where loc != first && !absorbed.contains(loc) { absorbed.append(loc) }
  return (first, absorbed)
}
