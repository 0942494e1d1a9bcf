import DinoIR

/// One weight-normalised linear layer whose GEMMs fuse: `W = weight_norm(v, g)` read only by
/// its forward `matmul(x, W) {trans_b=1}` and, in the training step, by the backward nodes
/// the autodiff made from it.
struct WeightNormFusion {
  /// The `weight_norm` node (dropped: W is never stored).
  var weightNorm: Int
  /// The forward `matmul(x, W) {trans_a=0, trans_b=1}`.
  var forward: Int
  /// The backward nodes, if they fuse: `matmul(dy, W)` (dx), `matmul(dy, x) {trans_a=1}`
  /// (dW), `weight_norm_bwd_v(dW, v, g)` and optionally `weight_norm_bwd_g(dW, v)`.
  var backward: WeightNormBackward?
}

/// The backward nodes of one `WeightNormFusion`, by node index.
struct WeightNormBackward {
  /// `matmul(dy, W) {trans_a=0, trans_b=0}`: dx.
  var dx: Int
  /// `matmul(dy, x) {trans_a=1, trans_b=0}`: the gradient of W, read only by the next two.
  var dW: Int
  /// `weight_norm_bwd_v(dW, v, g)`.
  var dv: Int
  /// `weight_norm_bwd_g(dW, v)`, when g is trained.
  var dg: Int?

  /// The nodes in program order.
  var members: [Int] { ([dx, dW, dv] + (dg.map { [$0] } ?? [])).sorted() }
}

/// `program` with every weight-normalised linear layer computed without its weight: the
/// forward `matmul(x, weight_norm(v, g)) {trans_b=1}` (x `[M, K]`) becomes
/// `linear_weight_norm(x, v, g)`, which scales each column of x·vᵀ by g_j/‖v_j‖, and, where
/// the autodiff's backward of it is whole — `matmul(dy, W)`, `matmul(dy, x) {trans_a=1}`
/// read only by `weight_norm_bwd_v(dW, v, g)` (and `weight_norm_bwd_g(dW, v)` when g is
/// trained) — those nodes become one `linear_weight_norm_bwd(dy, x, v, g) {grad_g}` with dx
/// as result 0, dv as `result` 1 (which the memory plan then computes straight into its
/// `grad.*` buffer) and dg as `result` 2, at the position of the first of them. Neither W
/// `[N, K]` nor its gradient is stored any more: on DINO's head (N = 65536 prototypes) that
/// is 64 MiB twice in the arena, and the recompute of W in the backward is gone.
///
/// Only where W has no reader besides these (else it is stored anyway), so a layer whose
/// backward is not the autodiff's whole pattern stays unfused. The forward node keeps the
/// `weight_norm`'s location and absorbs the matmul's; the backward node keeps the first
/// member's and absorbs the others'. The results round differently (the scale after the
/// dot products; dx summed in chunks of v's rows): within the parity tolerance, not
/// bitwise.
func fuseLinearWeightNorm(_ program: Program) -> Program {
  let fusions = weightNormFusions(program)
  if fusions.isEmpty { return program }
  var dropped = Set<Int>()
  var forwardOf: [Int: WeightNormFusion] = [:]  // forward matmul → its fusion
  var backwardAt: [Int: WeightNormFusion] = [:]  // first backward member → its fusion
  for fusion in fusions {
    dropped.insert(fusion.weightNorm)
    forwardOf[fusion.forward] = fusion
    if let backward = fusion.backward {
      dropped.formUnion(backward.members)
      backwardAt[backward.members[0]] = fusion
    }
  }
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var result = Program(name: program.name)
  for (index, original) in program.nodes.enumerated() {
    if let fusion = forwardOf[index] {
      map[index] = result.append(fusedForward(program, fusion, map))
    } else if let fusion = backwardAt[index], let backward = fusion.backward {
      let id = result.appendWithResults(fusedBackward(program, fusion, backward, map))
      map[backward.dx] = id
      map[backward.dv] = ValueID(id.index + 1)
      if let dg = backward.dg { map[dg] = ValueID(id.index + 2) }
    } else if !dropped.contains(index) {
      map[index] = result.appendRenamed(original, map)
    }
  }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}

/// The fused forward `linear_weight_norm(x, v, g)` standing for `fusion.forward`.
private func fusedForward(
  _ program: Program, _ fusion: WeightNormFusion, _ map: [ValueID]
) -> Node {
  let (weightNorm, matmul) = (program.nodes[fusion.weightNorm], program.nodes[fusion.forward])
  var node = matmul
  node.op = .linearWeightNorm
  node.operands = ([matmul.operands[0]] + weightNorm.operands).map { map[$0.index] }
  node.attrs = [:]
  node.slot = nil
  (node.loc, node.absorbed) = fusedLocations(weightNorm.loc, [matmul.loc])
  return node
}

/// The fused backward `linear_weight_norm_bwd(dy, x, v, g) {grad_g}` standing for the
/// members of `backward` (result 0: dx).
private func fusedBackward(
  _ program: Program, _ fusion: WeightNormFusion, _ backward: WeightNormBackward,
  _ map: [ValueID]
) -> Node {
  let dx = program.nodes[backward.dx]
  let x = program.nodes[fusion.forward].operands[0]
  let vg = program.nodes[fusion.weightNorm].operands
  var node = dx
  node.op = .linearWeightNormBwd
  node.operands = [dx.operands[0], x, vg[0], vg[1]].map { map[$0.index] }
  node.attrs = ["grad_g": .int(backward.dg == nil ? 0 : 1)]
  node.slot = nil
  let locs = backward.members.map { program.nodes[$0].loc }
  (node.loc, node.absorbed) = fusedLocations(locs[0], Array(locs.dropFirst()))
  return node
}

/// The weight-normalised linear layers of `program` that fuse, in program order.
func weightNormFusions(_ program: Program) -> [WeightNormFusion] {
  let users = program.users()
  let outputs = Set(program.outputs.map(\.value.index))
  var fusions: [WeightNormFusion] = []
  for (w, node) in program.nodes.enumerated() where node.op == .weightNorm {
    guard !outputs.contains(w) else { continue }
    let readers = Array(Set(users[w].map(\.index))).sorted()
    let forwards = readers.filter { isWeightNormForward(program, $0, weight: w) }
    guard forwards.count == 1, let forward = forwards.first else { continue }
    let others = readers.filter { $0 != forward }
    if others.isEmpty {
      fusions.append(WeightNormFusion(weightNorm: w, forward: forward))
    } else if others.count == 1,
      let backward = weightNormBackward(
        program, users, outputs, dx: others[0], forward: forward, weight: w)
    {
      fusions.append(WeightNormFusion(weightNorm: w, forward: forward, backward: backward))
    }
  }
  return fusions
}

/// Whether node `index` is `matmul(x, W) {trans_a=0, trans_b=1}` with x `[M, K]` and W
/// (the value `weight`) read once.
private func isWeightNormForward(_ program: Program, _ index: Int, weight: Int) -> Bool {
  let node = program.nodes[index]
  guard node.op == .matmul, node.operands.count == 2, node.operands[1].index == weight,
    node.operands[0].index != weight, node.attrs.int("trans_a") == 0,
    node.attrs.int("trans_b") == 1
  else { return false }
  return program[node.operands[0]].type.rank == 2
}

/// The backward of the layer whose forward is `forward` and weight `weight`, when node `dx`
/// is its `matmul(dy, W)` and the rest is there as the autodiff emits it; else nil.
private func weightNormBackward(
  _ program: Program, _ users: [[ValueID]], _ outputs: Set<Int>, dx: Int, forward: Int,
  weight: Int
) -> WeightNormBackward? {
  let node = program.nodes[dx]
  let x = program.nodes[forward].operands[0]
  let vg = program.nodes[weight].operands
  guard node.op == .matmul, node.operands.count == 2, node.operands[1].index == weight,
    node.attrs.int("trans_a") == 0, node.attrs.int("trans_b") == 0,
    program[node.operands[0]].type.shape == program.nodes[forward].type.shape
  else { return nil }
  let dy = node.operands[0]
  let gradients = Set(users[dy.index].map(\.index)).sorted().filter { g in
    let n = program.nodes[g]
    return n.op == .matmul && n.operands == [dy, x] && n.attrs.int("trans_a") == 1
      && n.attrs.int("trans_b") == 0 && !outputs.contains(g)
  }
  for dW in gradients {
    let readers = Set(users[dW].map(\.index)).sorted()
    let dv = readers.filter { r in
      program.nodes[r].op == .weightNormBwdV && program.nodes[r].operands == [ValueID(dW)] + vg
    }
    let dg = readers.filter { r in
      program.nodes[r].op == .weightNormBwdG
        && program.nodes[r].operands == [ValueID(dW), vg[0]]
    }
    guard dv.count == 1, dg.count <= 1, readers.count == dv.count + dg.count else { continue }
    let backward = WeightNormBackward(dx: dx, dW: dW, dv: dv[0], dg: dg.first)
    // The fused node sits at the first member: everything it reads must be defined by then
    // (always so in the autodiff's output; a hand-written graph may differ).
    guard max(x.index, dy.index, weight, forward) < backward.members[0] else { return nil }
    return backward
  }
  return nil
}
