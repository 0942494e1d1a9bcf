import DinoIR

/// `program` with every `add(r, linear(x, w, b))` (either operand order, no broadcasting,
/// the linear read by nothing else) computed by one `linear_residual(x, w, b, r)`: the
/// GEMM's epilogue adds the bias and then the residual to each block while it is in cache,
/// so the linear's own result is never stored. The add's location goes to `absorbed`. The
/// sums are the unfused ones in the same order (x·wᵀ, + b, + r; the add commutes), so the
/// values are bitwise the same.
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
  var linearOf: [Int: (linear: Int, residual: ValueID)] = [:]  // add node → its parts
  var fusedLinear = Set<Int>()
  /// Whether value `v` stays live after node `position` (read later, an output, or not in
  /// the arena), so that holding it while the fused kernel writes costs nothing.
  func outlives(_ v: Int, _ position: Int) -> Bool {
    !program.nodes[v].isTransient || outputs.contains(v)
      || users[v].contains { $0.index > position }
  }
  for (index, node) in program.nodes.enumerated() where node.op == .add {
    let operands = node.operands
    guard operands.count == 2, operands.allSatisfy({ program[$0].type == node.type }) else {
      continue
    }
    for k in [1, 0] {
      let l = operands[k].index
      guard program.nodes[l].op == .linear, users[l].map(\.index) == [index],
        !outputs.contains(l), !fusedLinear.contains(l),
        outlives(program.nodes[l].operands[0].index, index)
      else { continue }
      linearOf[index] = (l, operands[1 - k])
      fusedLinear.insert(l)
      break
    }
  }
  if linearOf.isEmpty { return program }
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var result = Program(name: program.name)
  for (index, original) in program.nodes.enumerated() {
    if fusedLinear.contains(index) { continue }
    guard let (l, residual) = linearOf[index] else {
      map[index] = result.appendRenamed(original, map)
      continue
    }
    let linear = program.nodes[l]
    var node = linear
    node.op = .linearResidual
    node.operands = (linear.operands + [residual]).map { map[$0.index] }
    node.type = original.type
    node.slot = nil
    node.isBackward = original.isBackward
    node.absorbed = original.loc == .unknown || original.loc == linear.loc ? [] : [original.loc]
    if node.loc == .unknown { (node.loc, node.absorbed) = (original.loc, []) }
    map[index] = result.append(node)
  }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}
