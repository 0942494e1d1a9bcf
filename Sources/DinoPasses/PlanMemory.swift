import DinoIR

/// Places every transient value of each program in one arena (Glow's whole-program offset
/// allocation over live intervals), except the gradients the flat optimiser assigns to its
/// `grad.*` buffers: those are computed straight into their buffer (`MemorySlot.buffer`).
///
/// A view (`Liveness.viewSource`: a `reshape` of a transient value) joins its operand's
/// block, so no bytes move and the slot lives until its last view dies. A value computed in
/// place (`Liveness.inPlaceSource`: ops.def allows it, operand 0 and every view of its slot
/// die at that node, operand 0 is transient and has the same size) joins its operand's
/// block too, so a chain such as `scale → add → softmax` shares one slot. Blocks are then placed
/// one by one at `arenaAlignment`-aligned offsets, each in the smallest gap left by the
/// already placed blocks whose lifetimes intersect its own (best fit), or after them.
/// Two placement orders are tried, largest first and earliest first, and the smaller arena
/// wins. Sets each transient node's `slot` (its exact byte size), clears the slots of leaves
/// and effect ops, sets `arenaBytes` (aligned), and `graph.stage = "plan_memory"`.
/// `memoryStatistics` and `memoryReport` give the resulting efficiency.
/// - Parameter graph: a verified, scheduled graph; it is not modified.
/// - Returns: the planned graph.
/// - Throws: `CompileError` when an arena would exceed 2⁴⁸ bytes.
public func planMemory(_ graph: Graph) throws(CompileError) -> Graph {
  var result = graph
  for (p, program) in graph.programs.enumerated() {
    result.programs[p] = try plan(program)
  }
  result.stage = "plan_memory"
  return result
}

/// A run of values that share one slot: a value and the values computed in place over it.
private struct Block {
  /// The values, first the one that allocates.
  var members: [Int]
  /// First position live.
  var start: Int
  /// Last position live.
  var end: Int
  /// Bytes.
  var bytes: Int
}

/// Plans one program.
private func plan(_ program: Program) throws(CompileError) -> Program {
  let (liveness, homes) = plannedLiveness(program)
  var blockOf = Array(repeating: -1, count: program.nodes.count)
  var blocks: [Block] = []
  for (index, interval) in liveness.intervals.enumerated() {
    guard let interval, homes[index] == nil else { continue }
    if let source = liveness.viewSource[index] ?? liveness.inPlaceSource[index],
      blockOf[source.index] >= 0
    {
      let b = blockOf[source.index]
      blockOf[index] = b
      blocks[b].members.append(index)
      blocks[b].end = max(blocks[b].end, interval.end)
    } else {
      blockOf[index] = blocks.count
      blocks.append(
        Block(members: [index], start: interval.start, end: interval.end, bytes: interval.bytes))
    }
  }
  let largestFirst = blocks.indices.sorted {
    (-blocks[$0].bytes, blocks[$0].start, $0) < (-blocks[$1].bytes, blocks[$1].start, $1)
  }
  let earliestFirst = blocks.indices.sorted {
    (blocks[$0].start, -blocks[$0].bytes, $0) < (blocks[$1].start, -blocks[$1].bytes, $1)
  }
  var best = place(blocks, in: largestFirst)
  let other = place(blocks, in: earliestFirst)
  if other.arena < best.arena { best = other }
  if best.arena > 1 << 48 {
    throw CompileError("plan_memory: the arena of @\(program.name) would need \(best.arena) bytes")
  }

  var result = program
  for index in result.nodes.indices { result.nodes[index].slot = nil }
  for (index, buffer) in homes {
    result.nodes[index].slot = MemorySlot(
      offset: 0, size: program.nodes[index].type.byteSize, buffer: buffer)
  }
  for (b, block) in blocks.enumerated() {
    for member in block.members {
      result.nodes[member].slot = MemorySlot(offset: best.offsets[b], size: block.bytes)
    }
  }
  result.arenaBytes = best.arena
  return result
}

/// The liveness the planner places `program` by, ignoring any plan it carries: views and
/// in-place reuse as `Liveness` finds them with the gradients of `gradientHomes` in their
/// buffers; with those homes.
func plannedLiveness(_ program: Program) -> (liveness: Liveness, homes: [Int: String]) {
  var unplanned = program
  for index in unplanned.nodes.indices { unplanned.nodes[index].slot = nil }
  let homes = gradientHomes(unplanned)
  return (Liveness(unplanned, inBuffers: Set(homes.keys)), homes)
}

/// The values computed straight into a persistent `grad.*` buffer, by node index: each
/// value `v` of an `assign(grad.<name>, v)` (the flat optimiser's gradients) that is
/// transient, not an output, read by that assign alone, and the only value assigned to
/// that buffer. Its assign then copies nothing (source and destination coincide).
func gradientHomes(_ program: Program) -> [Int: String] {
  var readers = Array(repeating: 0, count: program.nodes.count)
  for node in program.nodes {
    for operand in Set(node.operands.map(\.index)) { readers[operand] += 1 }
  }
  let outputs = Set(program.outputs.map(\.value.index))
  var writes: [String: Int] = [:]
  for node in program.nodes where node.op.isEffect {
    for m in node.op.mutatedOperands where m < node.operands.count {
      if let name = program[node.operands[m]].bufferName { writes[name, default: 0] += 1 }
    }
  }
  var homes: [Int: String] = [:]
  for node in program.nodes where node.op == .assign {
    guard let buffer = program[node.operands[0]].bufferName, buffer.hasPrefix("grad.") else {
      continue
    }
    let value = node.operands[1].index
    if program.nodes[value].isTransient, !outputs.contains(value), readers[value] == 1,
      writes[buffer] == 1, program.nodes[value].type == program[node.operands[0]].type
    {
      homes[value] = buffer
    }
  }
  return homes
}

/// Best-fit placement of `blocks` taken in `order`; returns each block's offset and the
/// aligned arena size. Placed blocks are kept sorted by offset, so the gaps between the ones
/// whose lifetimes intersect the new block's come out in one scan.
private func place(_ blocks: [Block], in order: [Int]) -> (offsets: [Int], arena: Int) {
  var offsets = Array(repeating: 0, count: blocks.count)
  var byOffset: [Int] = []
  var top = 0
  for b in order {
    let block = blocks[b]
    if block.bytes == 0 { continue }
    var candidate = 0
    var bestOffset: Int?
    var bestGap = Int.max
    for c in byOffset where blocks[c].start <= block.end && block.start <= blocks[c].end {
      let gap = offsets[c] - candidate
      if gap >= block.bytes && gap < bestGap {
        bestGap = gap
        bestOffset = candidate
      }
      candidate = max(candidate, alignedToArena(offsets[c] + blocks[c].bytes))
    }
    let offset = bestOffset ?? candidate
    offsets[b] = offset
    top = max(top, offset + block.bytes)
    var low = 0, high = byOffset.count
    while low < high {
      let mid = (low + high) / 2
      if offsets[byOffset[mid]] <= offset { low = mid + 1 } else { high = mid }
    }
    byOffset.insert(b, at: low)
  }
  return (offsets, alignedToArena(top))
}
