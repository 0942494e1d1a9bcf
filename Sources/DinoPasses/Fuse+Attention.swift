import DinoIR

/// One multi-head attention the `fuse` pass replaces: the forward nodes from the qkv
/// projection's output to the heads' merged result, and, when the backward is present
/// and matches, the backward nodes from the merged result's gradient to d(qkv). The
/// queries may be cut to their first Q rows (`slice` on the token axis, start 0: what the
/// `narrow` pass leaves of a ViT's last block, Q = 1); keys and values are all N rows.
struct AttentionGroup {
  /// The forward nodes replaced, in graph order; the last is the merged `[B, Q, C]` result.
  var forward: [Int]
  /// The `softmax` node, read only inside the group (the fused forward keeps each row's
  /// log-sum-exp instead, its `result` 1).
  var softmax: Int
  /// The qkv projection's output `[B, N, 3·C]`.
  var qkv: ValueID
  /// Head count.
  var heads: Int
  /// The scores' `scale` factor.
  var scale: Double
  /// Query rows computed: the first Q of the N tokens (Q = N: the whole attention).
  var queries: Int
  /// Tokens N (the keys' rows).
  var tokens: Int
  /// The backward nodes replaced, in graph order (empty when the backward does not fuse);
  /// the last is d(qkv) `[B, N, 3·C]`.
  var backward: [Int] = []
  /// The gradient of the merged result, read by the fused backward.
  var dy = ValueID(-1)
}

/// Reads the chain of single-purpose nodes an attention consists of.
private struct AttentionMatcher {
  let program: Program
  let users: [[ValueID]]

  /// Node `v` when it has op `op` (and, if given, attribute `key` equal to `value`).
  func node(_ v: ValueID, _ op: OpKind, _ key: String? = nil, _ value: Attr? = nil) -> Node? {
    let n = program[v]
    guard n.op == op else { return nil }
    if let key, n.attrs[key] != value { return nil }
    return n
  }

  /// The only user of `v`, when it has exactly one (read once) and that user has op `op`.
  func onlyUser(_ v: Int, _ op: OpKind) -> Int? {
    guard users[v].count == 1, program.nodes[users[v][0].index].op == op else { return nil }
    return users[v][0].index
  }

  /// `reshape(slice(packed, axis 0, part..<part+1))` to `[B, H, N, hd]`: the slice's node.
  func part(_ v: ValueID, of packed: Int, index part: Int) -> Int? {
    guard let reshape = node(v, .reshape), let sliceNode = node(reshape.operands[0], .slice),
      sliceNode.operands[0].index == packed, sliceNode.attrs.int("axis") == 0,
      sliceNode.attrs.int("start") == part, sliceNode.attrs.int("end") == part + 1
    else { return nil }
    return reshape.operands[0].index
  }

  /// The forward around softmax node `s`, or nil.
  func forward(_ s: Int) -> AttentionGroup? {
    let sm = program.nodes[s]
    guard let scaled = node(sm.operands[0], .scale),
      let scores = node(scaled.operands[0], .matmul, "trans_b", .int(1)),
      scores.attrs.int("trans_a") == 0, case .float(let factor)? = scaled.attrs["factor"],
      let qSlice = anyPart(scores.operands[0])
    else { return nil }
    // q is part 0 of the packed heads, or of their first Q tokens: a slice on the token
    // axis (3) from 0 between the two.
    let qSource = program.nodes[qSlice].operands[0]
    let cut = queryCut(qSource)
    let packed = cut.map { program.nodes[$0].operands[0].index } ?? qSource.index
    guard part(scores.operands[0], of: qSource.index, index: 0) != nil,
      part(scores.operands[1], of: packed, index: 1) != nil,
      let perm = node(ValueID(packed), .permute, "perm", .ints([2, 0, 3, 1, 4])),
      let split = node(perm.operands[0], .reshape), split.type.rank == 5
    else { return nil }
    let qkv = split.operands[0]
    let (b, n, three, heads, hd) = (
      split.type.shape[0], split.type.shape[1], split.type.shape[2], split.type.shape[3],
      split.type.shape[4]
    )
    let qShape = program[scores.operands[0]].type.shape
    let queries = qShape.count == 4 ? qShape[2] : 0
    guard three == 3, program[qkv].type.shape == [b, n, 3 * heads * hd],
      qShape == [b, heads, queries, hd],
      queries >= 1, queries <= n, cut != nil || queries == n
    else { return nil }
    // softmax · v, its heads moved next to each other and merged.
    let pv = users[s].map(\.index).first { u in
      let m = program.nodes[u]
      return m.op == .matmul && m.operands[0].index == s && m.attrs.int("trans_a") == 0
        && m.attrs.int("trans_b") == 0 && part(m.operands[1], of: packed, index: 2) != nil
    }
    guard let pv, let merge = onlyUser(pv, .permute),
      program.nodes[merge].attrs.ints("perm") == [0, 2, 1, 3],
      let out = onlyUser(merge, .reshape),
      program.nodes[out].type.shape == [b, queries, heads * hd]
    else { return nil }
    let parts = [scores.operands[0], scores.operands[1], program.nodes[pv].operands[1]]
    var nodes = [perm.operands[0].index, packed]  // the split and the permute
    nodes += parts.map(\.index) + parts.map { program[$0].operands[0].index }
    nodes += [scaled.operands[0].index, sm.operands[0].index, s, pv, merge, out]
    if let cut { nodes.append(cut) }
    return AttentionGroup(
      forward: nodes.sorted(), softmax: s, qkv: qkv, heads: heads, scale: factor,
      queries: queries, tokens: n)
  }

  /// Node `v` when it cuts the packed heads `[3, B, H, N, hd]` to their first rows: a
  /// `slice` on axis 3 starting at 0 of a rank-5 value; nil for anything else.
  func queryCut(_ v: ValueID) -> Int? {
    guard let cut = node(v, .slice), cut.attrs.int("axis") == 3, cut.attrs.int("start") == 0,
      cut.type.rank == 5
    else { return nil }
    return v.index
  }

  /// The slice node under a `reshape(slice(…))` operand, whatever it slices.
  func anyPart(_ v: ValueID) -> Int? {
    guard let reshape = node(v, .reshape), node(reshape.operands[0], .slice) != nil else {
      return nil
    }
    return reshape.operands[0].index
  }

  /// The backward of `group`, filled into it when every node of the unfused backward is
  /// present and read only inside it; else `group` unchanged.
  func backward(_ group: AttentionGroup) -> AttentionGroup {
    let s = group.softmax
    let scores = program.nodes[group.forward.first { program.nodes[$0].op == .matmul }!]
    let (q, k) = (scores.operands[0], scores.operands[1])
    let pv = group.forward.last { program.nodes[$0].op == .matmul }!
    let v = program.nodes[pv].operands[1]
    guard
      let sb = users[s].map(\.index).first(where: {
        program.nodes[$0].op == .softmaxBwd && program.nodes[$0].operands[1].index == s
      }),
      let dvNode = users[s].map(\.index).first(where: {
        let m = program.nodes[$0]
        return m.op == .matmul && m.operands[0].index == s && m.attrs.int("trans_a") == 1
          && m.attrs.int("trans_b") == 0
      })
    else { return group }
    let dO = program.nodes[dvNode].operands[1]
    let dpNode = program.nodes[sb].operands[0].index
    guard let dp = node(ValueID(dpNode), .matmul, "trans_b", .int(1)),
      dp.attrs.int("trans_a") == 0, dp.operands == [dO, v],
      let dOPerm = node(dO, .permute, "perm", .ints([0, 2, 1, 3])),
      let dOSplit = node(dOPerm.operands[0], .reshape),
      Set(users[dO.index].map(\.index)) == [dpNode, dvNode], users[dO.index].count == 2,
      users[dOPerm.operands[0].index].count == 1, users[dpNode].count == 1,
      let sc = onlyUser(sb, .scale), program.nodes[sc].attrs.float("factor") == group.scale,
      users[sc].count == 2
    else { return group }
    let dy = dOSplit.operands[0]
    guard program[dy].type == program.nodes[group.forward.last!].type else { return group }
    var grads: [Int: Int] = [dvNode: 2]  // gradient node → its part of qkv
    for u in users[sc].map(\.index) {
      let m = program.nodes[u]
      guard m.op == .matmul, m.operands[0].index == sc, m.attrs.int("trans_b") == 0 else {
        return group
      }
      if m.attrs.int("trans_a") == 0 && m.operands[1] == k {
        grads[u] = 0
      } else if m.attrs.int("trans_a") == 1 && m.operands[1] == q {
        grads[u] = 1
      } else {
        return group
      }
    }
    guard grads.count == 3 else { return group }
    var nodes = [dOPerm.operands[0].index, dO.index, dpNode, dvNode, sb, sc]
    var pads: [Int] = []
    for (g, partIndex) in grads {
      guard let lift = onlyUser(g, .reshape), var pad = onlyUser(lift, .pad),
        program.nodes[pad].attrs.int("axis") == 0,
        program.nodes[pad].attrs.int("before") == partIndex,
        program.nodes[pad].attrs.int("after") == 2 - partIndex
      else { return group }
      nodes += [g, lift, pad]
      // dq of a query prefix: zero rows for the tokens past it (the cut's adjoint).
      if partIndex == 0 && group.queries < group.tokens {
        guard let rows = onlyUser(pad, .pad), program.nodes[rows].attrs.int("axis") == 3,
          program.nodes[rows].attrs.int("before") == 0,
          program.nodes[rows].attrs.int("after") == group.tokens - group.queries
        else { return group }
        nodes.append(rows)
        pad = rows
      }
      pads.append(pad)
    }
    // Two adds sum the three padded parts, in any order.
    guard
      let inner = pads.compactMap({ onlyUser($0, .add) }).first(where: { a in
        program.nodes[a].operands.allSatisfy { pads.contains($0.index) }
      }), let outer = onlyUser(inner, .add),
      Set(program.nodes[outer].operands.map(\.index)).count == 2,
      pads.allSatisfy({ users[$0].count == 1 && [inner, outer].contains(users[$0][0].index) }),
      let unpack = onlyUser(outer, .permute),
      program.nodes[unpack].attrs.ints("perm") == [1, 3, 0, 2, 4],
      let dqkv = onlyUser(unpack, .reshape),
      program.nodes[dqkv].type == program[group.qkv].type
    else { return group }
    nodes += [inner, outer, unpack, dqkv]
    var result = group
    result.backward = nodes.sorted()
    result.dy = dy
    return result
  }
}

/// The attentions of `program` that fuse: the forward nodes of each read only inside the
/// group, the merged result excepted, and the backward where it fuses too. The softmax
/// rows too are read only inside the group: the fused nodes keep each row's log-sum-exp,
/// not the rows, so an attention whose weights are read elsewhere (a program output, an
/// unfused backward) stays unfused.
func attentionGroups(_ program: Program) -> [AttentionGroup] {
  let users = program.users()
  let matcher = AttentionMatcher(program: program, users: users)
  let outputs = Set(program.outputs.map(\.value.index))
  var groups: [AttentionGroup] = []
  for (s, node) in program.nodes.enumerated() where node.op == .softmax {
    guard var group = matcher.forward(s) else { continue }
    group = matcher.backward(group)
    let members = Set(group.forward + group.backward)
    let out = group.forward.last!
    let inner = group.forward.filter { $0 != out } + group.backward.dropLast()
    let closed = inner.allSatisfy { i in
      !outputs.contains(i) && users[i].allSatisfy { members.contains($0.index) }
    }
    if closed { groups.append(group) }
  }
  return groups
}

/// `program` with every `AttentionGroup` fused: the forward nodes become one
/// `attention(qkv) {heads, queries, scale}` at the merged result's place (its `result` 1
/// each softmax row's log-sum-exp) and the backward nodes one `attention_bwd(dy, qkv, out,
/// lse) {heads, queries, scale}` at d(qkv)'s place, which recomputes the softmax rows. Each
/// fused node keeps the first location of its nodes and lists the others in `absorbed`.
/// The kernels sum in their own fixed order, so the values agree with the unfused nodes'
/// within rounding, not bitwise.
func fuseAttention(_ program: Program) -> Program {
  let groups = attentionGroups(program)
  if groups.isEmpty { return program }
  var removed = Set<Int>()
  var fusedAt: [Int: (group: Int, backward: Bool)] = [:]
  for (k, group) in groups.enumerated() {
    removed.formUnion(group.forward.dropLast() + group.backward.dropLast())
    fusedAt[group.forward.last!] = (k, false)
    if let last = group.backward.last { fusedAt[last] = (k, true) }
  }
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var result = Program(name: program.name)
  /// The first location of `nodes` and the other distinct ones, in graph order.
  func locations(_ nodes: [Int]) -> (SourceLoc, [SourceLoc]) {
    var locs: [SourceLoc] = []
    for i in nodes where program.nodes[i].loc != .unknown && !locs.contains(program.nodes[i].loc) {
      locs.append(program.nodes[i].loc)
    }
    return (locs.first ?? .unknown, Array(locs.dropFirst()))
  }
  for (index, original) in program.nodes.enumerated() {
    if removed.contains(index) { continue }
    guard let (k, isBackward) = fusedAt[index] else {
      map[index] = result.appendRenamed(original, map)
      continue
    }
    let group = groups[k]
    let attrs: Attributes = [
      "heads": .int(group.heads), "queries": .int(group.queries), "scale": .float(group.scale),
    ]
    let members = isBackward ? group.backward : group.forward
    let (loc, absorbed) = locations(members)
    let anchor = program.nodes[group.softmax]
    if isBackward {
      let out = map[group.forward.last!]
      let operands = [map[group.dy.index], map[group.qkv.index], out, ValueID(out.index + 1)]
      map[index] = result.append(
        Node(
          .attentionBwd, operands, attrs: attrs, type: original.type, loc: loc,
          absorbed: absorbed, scope: anchor.scope, isBackward: true))
    } else {
      map[index] = result.appendWithResults(
        Node(
          .attention, [map[group.qkv.index]], attrs: attrs, type: original.type, loc: loc,
          absorbed: absorbed, scope: anchor.scope, isBackward: anchor.isBackward))
    }
  }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}
