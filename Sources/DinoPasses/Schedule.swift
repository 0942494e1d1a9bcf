import DinoIR

/// Reorders each program to keep its peak of live arena bytes low.
///
/// A greedy list scheduler: among the nodes whose operands are computed, it runs the one
/// that frees the most arena bytes net of what it allocates (an operand is freed when this
/// is its last unscheduled reader and it is not a program output); ties go to the node that
/// came first. Leaves take no arena memory and are placed right before their first reader
/// (unread leaves first). Effect ops keep their order against every other access to the
/// buffers they mutate: a write stays after the reads and writes before it and before the
/// reads and writes after it, by buffer name and by region (a `region` leaf aliases every
/// buffer of its region). If the greedy order's liveness lower bound is higher than the
/// original order's, the original order is kept. The `result` nodes of a node with several
/// results stay right after it, in order. Values are renumbered
/// densely, outputs remapped, memory plans dropped. Sets `graph.stage = "schedule"`.
/// - Parameter graph: a verified graph; it is not modified.
/// - Returns: the graph with each program in its new order.
/// - Throws: `CompileError` when an operand names an undefined value.
public func schedule(_ graph: Graph) throws(CompileError) -> Graph {
  var result = graph
  for (p, program) in graph.programs.enumerated() {
    let greedy = program.reordered(try greedyOrder(program))
    let original = program.reordered(Array(program.nodes.indices))
    result.programs[p] = liveLowerBound(greedy) <= liveLowerBound(original) ? greedy : original
  }
  result.stage = "schedule"
  return result
}

/// The dependencies of each node: its operands, plus the ordering edges between accesses
/// to one persistent buffer when an effect op writes it.
private func dependencies(_ program: Program) throws(CompileError) -> [[Int]] {
  var preds: [[Int]] = []
  preds.reserveCapacity(program.nodes.count)
  // Per buffer name: the last writer, and the readers since it.
  var lastWrite: [String: Int] = [:]
  var readsSinceWrite: [String: [Int]] = [:]
  for index in program.nodes.indices {
    let node = program.nodes[index]
    let operands = try program.checkedOperands(of: index, pass: "schedule")
    var deps = operands
    let written = Set(node.op.mutatedOperands.filter { $0 < operands.count })
    var writes: [String] = []
    for (position, operand) in operands.enumerated() {
      for buffer in accessKeys(program.nodes[operand]) {
        if let writer = lastWrite[buffer] { deps.append(writer) }
        if written.contains(position) {
          writes.append(buffer)
        } else {
          readsSinceWrite[buffer, default: []].append(index)
        }
      }
    }
    for buffer in writes {
      deps += readsSinceWrite[buffer, default: []].filter { $0 != index }
      lastWrite[buffer] = index
      readsSinceWrite[buffer] = []
    }
    preds.append(Array(Set(deps)).sorted())
  }
  return preds
}

/// The names under which an access to `node` is ordered: a parameter's buffer name and
/// its region (`#student`), a `region` leaf's region; none for other nodes. A region leaf
/// aliases every buffer of its region, so the two meet on the region key.
private func accessKeys(_ node: Node) -> [String] {
  if node.op == .region { return ["#" + node.attrs.string("name")] }
  guard let buffer = node.bufferName else { return [] }
  return [buffer, "#" + (buffer.split(separator: ".").first.map(String.init) ?? buffer)]
}

/// The greedy order of `program` as old node indices (see `schedule`).
private func greedyOrder(_ program: Program) throws(CompileError) -> [Int] {
  let nodes = program.nodes
  let preds = try dependencies(program)
  var isOutput = Array(repeating: false, count: nodes.count)
  for output in program.outputs where output.value.index >= 0 && output.value.index < nodes.count {
    isOutput[output.value.index] = true
  }
  var successors = Array(repeating: [Int](), count: nodes.count)
  var waiting = Array(repeating: 0, count: nodes.count)
  var readers = Array(repeating: 0, count: nodes.count)
  let distinct = nodes.map { Array(Set($0.operands.map(\.index))) }
  for index in nodes.indices where !nodes[index].op.isLeaf {
    for pred in preds[index] where !nodes[pred].op.isLeaf {
      successors[pred].append(index)
      waiting[index] += 1
    }
    for operand in distinct[index] { readers[operand] += 1 }
  }
  var ready = nodes.indices.filter { !nodes[$0].op.isLeaf && waiting[$0] == 0 }
  var placed = Array(repeating: false, count: nodes.count)
  var order = nodes.indices.filter { nodes[$0].op.isLeaf && readers[$0] == 0 }
  for leaf in order { placed[leaf] = true }

  func score(_ index: Int) -> Int {
    var freed = 0
    for operand in distinct[index]
    where nodes[operand].isTransient && readers[operand] == 1 && !isOutput[operand] {
      freed += nodes[operand].type.byteSize
    }
    var allocated = nodes[index].isTransient ? nodes[index].type.byteSize : 0
    var next = index + 1
    while next < nodes.count, nodes[next].op == .result,
      nodes[next].operands.first?.index == index
    {
      allocated += nodes[next].type.byteSize  // results written by the same kernel
      next += 1
    }
    return freed - allocated
  }

  while !ready.isEmpty {
    var best = 0
    var bestScore = score(ready[0])
    for k in ready.indices.dropFirst() {
      let s = score(ready[k])
      if s > bestScore || (s == bestScore && ready[k] < ready[best]) {
        best = k
        bestScore = s
      }
    }
    var run = [ready.remove(at: best)]
    // A node with several results is followed at once by its `result` nodes, in order.
    while let last = run.last, last + 1 < nodes.count, nodes[last + 1].op == .result,
      nodes[last + 1].operands.first?.index == run[0]
    {
      run.append(last + 1)
    }
    for index in run {
      for operand in nodes[index].operands.map(\.index) where !placed[operand] {
        placed[operand] = true
        order.append(operand)
      }
      placed[index] = true
      order.append(index)
      for operand in distinct[index] { readers[operand] -= 1 }
      for next in successors[index] {
        waiting[next] -= 1
        if waiting[next] == 0 && !run.contains(next) { ready.append(next) }
      }
    }
  }
  return order
}
