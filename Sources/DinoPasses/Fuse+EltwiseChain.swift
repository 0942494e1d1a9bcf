import DinoIR

/// The element-wise ops an `eltwise_chain` absorbs.
let chainableOps: Set<OpKind> = [.add, .sub, .mul, .div, .scale, .gelu, .geluBwd, .log, .exp]

/// One tree of element-wise nodes that fuses into an `eltwise_chain`.
struct EltwiseChainGroup {
  /// The node whose value the chain computes (read outside the group, or an output).
  var root: Int
  /// Every node of the group, the root last, each after the members it reads (post-order).
  var members: [Int]
}

/// The maximal trees of ≥ 2 element-wise nodes of `program` whose intermediates have no
/// reader outside the tree, are no program output and have the type of the node reading
/// them; at most `EltwiseProgram.maxSteps` nodes and four `scale`s each (the kernel's int and
/// float slots: a larger tree is cut into several). The fused node runs at the root's
/// position, so a node stays out when an effect op between it and the root updates a value
/// it reads (it would read the new value). A node that reads only leaves (`scale(center)`)
/// stays out too: ready from the start, the scheduler may run it, and so place the first
/// read of its buffers, early (the persistent layout orders regions by that first read, and
/// a plan with and without the teacher statistics must keep one layout).
func eltwiseChainGroups(_ program: Program) -> [EltwiseChainGroup] {
  let users = program.users()
  let outputs = Set(program.outputs.map(\.value.index))
  func isStep(_ index: Int) -> Bool {
    chainableOps.contains(program.nodes[index].op) && program.nodes[index].type.dtype == .f32
  }
  /// Whether node `p` may become an intermediate of the tree that `n` belongs to.
  func absorbable(_ p: Int, into n: Int) -> Bool {
    isStep(p) && !outputs.contains(p) && Set(users[p].map(\.index)) == [n]
      && program.nodes[p].type == program.nodes[n].type
      && !program.nodes[p].operands.allSatisfy { program.nodes[$0.index].op.isLeaf }
  }
  let effects = program.nodes.indices.filter { program.nodes[$0].op.isEffect }.map { e in
    let node = program.nodes[e]
    return (index: e, updates: Set(node.op.mutatedOperands.map { node.operands[$0].index }))
  }
  /// Whether an effect op after node `p` and before `root` updates a value `p` reads.
  func crossesAnUpdate(_ p: Int, _ root: Int) -> Bool {
    let reads = Set(program.nodes[p].operands.map(\.index))
    return effects.contains {
      $0.index > p && $0.index < root && !$0.updates.isDisjoint(with: reads)
    }
  }
  var owned = Set<Int>()
  var groups: [EltwiseChainGroup] = []
  for root in program.nodes.indices.reversed() where isStep(root) && !owned.contains(root) {
    var members: [Int] = []
    var reserved = 1
    var scales = program.nodes[root].op == .scale ? 1 : 0
    func visit(_ n: Int) {
      for operand in program.nodes[n].operands {
        let p = operand.index
        let isScale = p >= 0 && p < n && program.nodes[p].op == .scale
        guard p >= 0, p < n, !owned.contains(p), reserved < EltwiseProgram.maxSteps,
          !isScale || scales < EltwiseProgram.factorNames.count, absorbable(p, into: n),
          !crossesAnUpdate(p, root)
        else { continue }
        owned.insert(p)
        reserved += 1
        scales += isScale ? 1 : 0
        visit(p)
      }
      members.append(n)
    }
    owned.insert(root)
    visit(root)
    if members.count >= 2 {
      groups.append(EltwiseChainGroup(root: root, members: members))
    } else {
      owned.remove(root)
    }
  }
  return groups.reversed()
}

/// `program` with every `EltwiseChainGroup` computed by one `eltwise_chain` node at the
/// root's position: its operands are the values the group reads from outside (the first
/// one of the root's shape, as the kernel's in-place rule wants), its program the group's
/// nodes in post-order, each `scale`'s factor in one of `factor0…factor3`. It keeps the
/// first member's location and lists the others' in `absorbed`. The kernel rounds every step
/// as the unfused op does, so values are bitwise the same; the memory planner sees one value
/// where there were as many as the group has nodes.
func fuseEltwiseChains(_ program: Program) -> Program {
  let groups = eltwiseChainGroups(program)
  if groups.isEmpty { return program }
  var groupOfRoot: [Int: EltwiseChainGroup] = [:]
  var dropped = Set<Int>()
  for group in groups {
    groupOfRoot[group.root] = group
    dropped.formUnion(group.members.dropLast())
  }
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var result = Program(name: program.name)
  for (index, original) in program.nodes.enumerated() where !dropped.contains(index) {
    guard let group = groupOfRoot[index] else {
      map[index] = result.appendRenamed(original, map)
      continue
    }
    map[index] = result.appendChain(group, of: program, map)
  }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}

extension Program {
  /// Appends the `eltwise_chain` of `group` (nodes of `source`, operands renamed through
  /// `map`).
  fileprivate mutating func appendChain(
    _ group: EltwiseChainGroup, of source: Program, _ map: [ValueID]
  ) -> ValueID {
    let root = source.nodes[group.root]
    var inputs: [ValueID] = []
    var factors: [Double] = []
    var stepOf: [Int: Int] = [:]
    /// A value the chain reads from outside: operand i of the fused node.
    func external(_ value: ValueID) -> EltwiseProgram.Ref {
      if let i = inputs.firstIndex(of: value) { return .operand(i) }
      inputs.append(value)
      return .operand(inputs.count - 1)
    }
    /// What a member's operand `value` (of `source`) is in the program.
    func ref(_ value: ValueID) -> EltwiseProgram.Ref {
      stepOf[value.index].map { .step($0) } ?? external(map[value.index])
    }
    var steps: [EltwiseProgram.Step] = []
    for member in group.members {
      let node = source.nodes[member]
      let a = ref(node.operands[0])
      if node.op == .scale {
        let factor = node.attrs.float("factor")
        if !factors.contains(factor) { factors.append(factor) }
        steps.append(.init(.scale, a, factor: factors.firstIndex(of: factor) ?? 0))
      } else {
        steps.append(.init(node.op, a, node.operands.count > 1 ? ref(node.operands[1]) : nil))
      }
      stepOf[member] = steps.count - 1
    }
    let first = group.members.min() ?? group.root
    let others = group.members.sorted().dropFirst().map { source.nodes[$0].loc }
    let (loc, absorbed) = fusedLocations(source.nodes[first].loc, others)
    var attrs: Attributes = ["program": .ints(EltwiseProgram(steps: steps).encoded)]
    for (k, name) in EltwiseProgram.factorNames.enumerated() {
      attrs[name] = .float(k < factors.count ? factors[k] : 0)
    }
    return append(
      Node(
        .eltwiseChain, inputs, attrs: attrs,
        type: root.type, loc: loc, absorbed: absorbed, scope: root.scope,
        isBackward: root.isBackward))
  }
}
