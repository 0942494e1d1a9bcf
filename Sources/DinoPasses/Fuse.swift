import DinoIR

/// Fuses groups of nodes into single kernels; a pure `Graph -> Graph` run after the
/// optimiser and EMA lowering and before scheduling (`Pipeline`).
///
/// Six fusions, per program. `fuseLayerNorms`: a `layer_norm` whose three backward
/// nodes are all present — `layer_norm_bwd(dy, x, gamma)`, `layer_norm_bwd_gamma(dy, x)` and
/// `sum_to(dy) {shape=[D]}` over one `dy` — becomes `layer_norm_train`, which also saves
/// every row's mean and rstd (its `result` 1), and the three backward nodes become one
/// `layer_norm_grad(dy, x, stats, gamma)` with results dx, dgamma (`result` 1) and dbeta
/// (`result` 2). Its kernels sum in the unfused kernels' order, so the step is bitwise the
/// same. `fuseLinearGelu`: `gelu(linear(x, w, b))` becomes `linear_gelu(x, w, b)`, GELU
/// applied in the GEMM's epilogue, the pre-activation kept as its `result` 1 where
/// `gelu_bwd` reads it, or `linear_gelu_only(x, w, b)` where nothing else reads it (forward
/// only: the teacher, evaluation). `fuseLinearResidual`: `add(r, linear(x, w, b))` becomes
/// `linear_residual(x, w, b, r)`, the residual added in the GEMM's epilogue, and
/// `add(r, mul(linear(x, w, b), m))` with a per-image m (drop path) becomes
/// `linear_residual_scaled(x, w, b, r, m)`. `fuseAttention`: the attention's split of qkv,
/// scores, scale, softmax, weighted sum and merge of the heads become one `attention(qkv)`
/// (each softmax row's log-sum-exp its `result` 1) and their backward one
/// `attention_bwd(dy, qkv, out, lse)` writing d(qkv), the softmax rows recomputed (both
/// sum in their own order: within rounding of the unfused nodes). `fuseMatmulGeluBwd`:
/// `gelu_bwd(matmul(a, b), h)` becomes `matmul_gelu_bwd(a, b, h)`, GELU's derivative
/// applied in the GEMM's epilogue. The GEMM epilogues round as the ops they absorb, so all
/// of them are bitwise the same. `fuseLinearWeightNorm`: `matmul(x, weight_norm(v, g))
/// {trans_b=1}` becomes `linear_weight_norm(x, v, g)` and its backward one
/// `linear_weight_norm_bwd`, so the weight W is never stored (within tolerance, not bitwise:
/// the scale comes after the dot products). Last, `fuseEltwiseChains`: every maximal tree of
/// ≥ 2 element-wise nodes whose intermediates have no other reader becomes one
/// `eltwise_chain` (a small program of steps, bitwise the unfused nodes). A fused node
/// keeps its first node's location and lists the others' in `absorbed`. Layer norms without
/// the whole backward (the teacher's, evaluation programs) stay as they are. Memory plans
/// are dropped; sets `graph.stage = "fuse"`.
/// - Parameter graph: a verified graph; it is not modified.
/// - Returns: the fused graph.
/// - Throws: `CompileError` when an operand names an undefined value.
public func fuse(_ graph: Graph) throws(CompileError) -> Graph {
  var result = graph
  for (p, program) in graph.programs.enumerated() {
    for index in program.nodes.indices {
      _ = try program.checkedOperands(of: index, pass: "fuse")
    }
    result.programs[p] = fuseEltwiseChains(
      fuseLinearWeightNorm(
        fuseMatmulGeluBwd(
          fuseAttention(fuseLinearResidual(fuseLinearGelu(fuseLayerNorms(program)))))))
  }
  result.stage = "fuse"
  return result
}

/// One layer norm whose forward and whole backward fuse.
struct LayerNormGroup {
  /// The `layer_norm` node.
  var forward: Int
  /// `layer_norm_bwd` (dx), `layer_norm_bwd_gamma` (dgamma), `sum_to` (dbeta).
  var backward: [Int]
}

/// The layer norms of `program` that fuse, keyed by their `layer_norm` node.
func layerNormGroups(_ program: Program) -> [LayerNormGroup] {
  let users = program.users()
  var groups: [LayerNormGroup] = []
  var taken = Set<Int>()
  for (l, node) in program.nodes.enumerated() where node.op == .layerNorm {
    let x = node.operands[0], gamma = node.operands[1]
    let shape = program[x].type.shape
    guard shape.count >= 2, let d = shape.last, d > 1 else { continue }
    let eps = node.attrs["eps"]
    for b in users[x.index].map(\.index) where !taken.contains(b) {
      let dx = program.nodes[b]
      guard dx.op == .layerNormBwd, dx.operands[1] == x, dx.operands[2] == gamma,
        dx.attrs["eps"] == eps
      else { continue }
      let dy = dx.operands[0]
      let gammaGrad = users[x.index].map(\.index).first { g in
        !taken.contains(g) && program.nodes[g].op == .layerNormBwdGamma
          && program.nodes[g].operands == [dy, x] && program.nodes[g].attrs["eps"] == eps
      }
      let betaGrad = users[dy.index].map(\.index).first { s in
        !taken.contains(s) && program.nodes[s].op == .sumTo
          && program.nodes[s].attrs.ints("shape") == [d]
      }
      guard let g = gammaGrad, let s = betaGrad, l < min(b, g, s) else { continue }
      groups.append(LayerNormGroup(forward: l, backward: [b, g, s]))
      taken.formUnion([b, g, s])
      break
    }
  }
  return groups
}

/// `program` with every `LayerNormGroup` fused (see `fuse`).
func fuseLayerNorms(_ program: Program) -> Program {
  let groups = layerNormGroups(program)
  if groups.isEmpty { return program }
  var groupOfForward: [Int: Int] = [:]
  var groupOfBackward: [Int: Int] = [:]
  for (k, group) in groups.enumerated() {
    groupOfForward[group.forward] = k
    for b in group.backward { groupOfBackward[b] = k }
  }
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var stats = Array(repeating: ValueID(-1), count: groups.count)
  var result = Program(name: program.name)
  func mapped(_ ids: [ValueID]) -> [ValueID] { ids.map { map[$0.index] } }
  for (index, original) in program.nodes.enumerated() {
    var node = original
    node.operands = mapped(node.operands)
    node.slot = nil
    if let k = groupOfForward[index] {
      node.op = .layerNormTrain
      let id = result.appendWithResults(node)
      map[index] = id
      stats[k] = ValueID(id.index + 1)
    } else if let k = groupOfBackward[index] {
      let members = groups[k].backward
      guard index == members.min() else { continue }
      let (dx, dgamma, dbeta) = (program.nodes[members[0]], members[1], members[2])
      let locs = members.map { program.nodes[$0].loc }.filter { $0 != .unknown }
      let own = locs.first ?? .unknown
      var absorbed: [SourceLoc] = []
      for loc in locs where loc != own && !absorbed.contains(loc) { absorbed.append(loc) }
      let x = map[dx.operands[1].index], gamma = map[dx.operands[2].index]
      let id = result.appendWithResults(
        Node(
          .layerNormGrad, [map[dx.operands[0].index], x, stats[k], gamma], type: dx.type,
          loc: own, absorbed: absorbed, scope: dx.scope, isBackward: dx.isBackward))
      map[members[0]] = id
      map[dgamma] = ValueID(id.index + 1)
      map[dbeta] = ValueID(id.index + 2)
    } else {
      map[index] = result.append(node)
    }
  }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}

extension Program {
  /// Appends `node` (its operands already in this program) and, right after it, one
  /// `result {index=k}` node per further result its op has (`extraResultTypes`): how a
  /// fusion adds a node with several results. Returns the node's own value; result k is
  /// the value k positions after it.
  @discardableResult
  mutating func appendWithResults(_ node: Node) -> ValueID {
    let id = append(node)
    let types = node.op.extraResultTypes(node.operands.map { self[$0].type }, node.attrs)
    for (k, type) in types.enumerated() {
      append(
        Node(
          .result, [id], attrs: ["index": .int(k + 1)], type: type, loc: node.loc,
          scope: node.scope, isBackward: node.isBackward))
    }
    return id
  }

  /// Appends a copy of `node` whose operands are renamed through `map` (old value index to
  /// new value) and whose memory slot is dropped: how a fusion copies a node it keeps.
  @discardableResult
  mutating func appendRenamed(_ node: Node, _ map: [ValueID]) -> ValueID {
    var copy = node
    copy.operands = node.operands.map { map[$0.index] }
    copy.slot = nil
    return append(copy)
  }
}

extension Program {
  /// This program rebuilt: the nodes in `dropped` left out, node i with a `replacement[i]`
  /// replaced by the node it returns (given how old values are renamed; its memory slot is
  /// dropped), every other node copied with its operands renamed; the outputs follow. How a
  /// fusion whose fused node has one result rewrites a program.
  func rebuilt(
    dropping dropped: Set<Int>, replacing replacement: [Int: ((ValueID) -> ValueID) -> Node]
  ) -> Program {
    var map = Array(repeating: ValueID(-1), count: nodes.count)
    var result = Program(name: name)
    for (index, original) in nodes.enumerated() where !dropped.contains(index) {
      guard let make = replacement[index] else {
        map[index] = result.appendRenamed(original, map)
        continue
      }
      var node = make { map[$0.index] }
      node.slot = nil
      map[index] = result.append(node)
    }
    result.outputs = outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
    return result
  }
}
