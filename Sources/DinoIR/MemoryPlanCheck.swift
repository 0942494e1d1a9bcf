// The memory proof of a planned program: one checker, the union of the rules the compiler
// and the plan reader need (see `memoryProblems`).

/// Why `program` is not planned at all (no arena size), or nil when it is: the first rule
/// of `memoryProblems`, also what `PlanWriter` refuses before writing.
/// - Parameter program: any program.
public func unplannedProblem(_ program: Program) -> String? {
  program.arenaBytes == nil ? "@\(program.name) has no arena size (memory is not planned)" : nil
}

/// Proves a program's memory plan sound, or lists why not (empty when sound): the one
/// memory-plan checker. It runs twice between the DSL and the first kernel: at the end of
/// compilation (`Pipeline`, after `plan_memory`) and when a plan is loaded (`PlanReader`).
/// The verifier does not repeat it.
///
/// Checks: the arena size is set, non-negative and a multiple of `arenaAlignment`; every
/// transient value has a slot at an aligned offset, at least as large as its type, inside
/// the arena; leaves and effect results have none; and no two values live at a common
/// position share a byte (half-open ranges), except two values of one slot (a view and the
/// value it views, `Liveness.slotOwner`), or a value computed in place and the values of
/// its `Liveness.inPlaceSource`'s slot, which must all take exactly the same slot. Liveness
/// allows in place only when every view of the slot dies at that node, so an in-place
/// write over a slot a live view still reads is refused. A value placed in a persistent
/// buffer (`MemorySlot.buffer`, a gradient computed into its `grad.<name>` buffer) must be
/// read by exactly one node, an `assign` of it to that buffer, the only write of the buffer
/// in the program; it must have the buffer's type and not be a program output.
/// - Parameter program: the planned program.
/// - Returns: one line per problem, each naming the program and the values.
public func memoryProblems(_ program: Program) -> [String] {
  if let unplanned = unplannedProblem(program) { return [unplanned] }
  let name = "@\(program.name)"
  let arena = program.arenaBytes ?? 0
  var problems: [String] = []
  if arena < 0 || arena % arenaAlignment != 0 {
    problems.append(
      "\(name): arena size \(arena) is not a non-negative multiple of \(arenaAlignment)")
  }
  let liveness = Liveness(program)
  func text(_ slot: MemorySlot) -> String { "[\(slot.offset), \(slot.offset &+ slot.size))" }
  var placed: [LiveInterval] = []
  for (index, node) in program.nodes.enumerated() {
    guard let interval = liveness.intervals[index] else {
      if node.slot != nil {
        let why = node.op.isLeaf ? "a leaf lives in its own region" : "an effect result is a dummy"
        problems.append("\(name): %\(index) (\(node.op.name)) has an arena slot, but \(why)")
      }
      continue
    }
    guard let slot = node.slot else {
      problems.append("\(name): %\(index) (\(node.op.name), \(node.type)) has no arena slot")
      continue
    }
    if let buffer = slot.buffer {
      if let problem = bufferSlotProblem(index, buffer, in: program) {
        problems.append(
          "\(name): %\(index) (\(node.op.name)) lives in buffer \(buffer), but "
            + problem)
      }
      continue
    }
    if slot.size < interval.bytes {
      problems.append(
        "\(name): slot of %\(index) holds \(slot.size) bytes but \(node.type) needs "
          + "\(interval.bytes)")
    } else if slot.offset < 0 || slot.offset % arenaAlignment != 0 {
      problems.append(
        "\(name): slot of %\(index) starts at \(slot.offset), not a multiple of \(arenaAlignment)")
    } else if slot.offset > arena || slot.size > arena - slot.offset {
      problems.append(
        "\(name): slot of %\(index) \(text(slot)) lies outside the arena of \(arena) bytes")
    } else {
      placed.append(interval)
    }
  }
  var active: [LiveInterval] = []
  for interval in placed {
    let j = interval.value.index
    let a = program.nodes[j].slot!
    active.removeAll { $0.end < interval.start }
    for other in active {
      let i = other.value.index
      let b = program.nodes[i].slot!
      guard a.offset < b.offset + b.size && b.offset < a.offset + a.size else { continue }
      // Values of one slot (a view and what it views: Liveness makes a reshape a view only
      // when their slots are equal), or a value in place over that slot.
      let owner = liveness.slotOwner
      let inPlace = liveness.inPlaceSource[j].map { owner[$0.index] == owner[i] } ?? false
      if (owner[j] == owner[i] || inPlace) && a == b { continue }
      let detail =
        inPlace
        ? "in place must reuse the exact slot" : "both are live at position \(interval.start)"
      problems.append(
        "\(name): %\(j) \(text(a)) overlaps %\(i) \(text(b)) "
          + "(\(program.nodes[j].op.name) at \(j), \(detail))")
    }
    active.append(interval)
  }
  return problems
}

/// Why value `index` may not live in persistent buffer `buffer` (see `memoryProblems`).
private func bufferSlotProblem(_ index: Int, _ buffer: String, in program: Program) -> String? {
  if program.outputs.contains(where: { $0.value.index == index }) { return "it is an output" }
  let readers = program.nodes.indices.filter { reader in
    program.nodes[reader].operands.contains { $0.index == index }
  }
  guard readers.count == 1, let reader = readers.first else {
    return "it has \(readers.count) readers (one assign expected)"
  }
  let assign = program.nodes[reader]
  guard assign.op == .assign, assign.operands.count == 2, assign.operands[1].index == index,
    assign.operands[0].index != index,
    program[assign.operands[0]].bufferName == buffer,
    program[assign.operands[0]].type == program.nodes[index].type
  else {
    return "its reader %\(reader) is not an assign of it to that buffer with its type"
  }
  let writes = program.nodes.filter { node in
    node.op.isEffect
      && node.op.mutatedOperands.contains { m in
        m < node.operands.count && program[node.operands[m]].bufferName == buffer
      }
  }
  if writes.count != 1 { return "the program writes the buffer \(writes.count) times" }
  return nil
}
