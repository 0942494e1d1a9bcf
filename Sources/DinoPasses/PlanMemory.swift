import DinoIR

/// Places every transient value of each program in one arena (Glow's whole-program offset
/// allocation over live intervals).
///
/// A value computed in place (`Liveness.inPlaceSource`: ops.def allows it, operand 0 dies at
/// that node, is transient, is not an output and has the same size) joins its operand's
/// block, so a chain such as `scale → add → softmax` shares one slot. Blocks are then placed
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
  let liveness = Liveness(program)
  var blockOf = Array(repeating: -1, count: program.nodes.count)
  var blocks: [Block] = []
  for (index, interval) in liveness.intervals.enumerated() {
    guard let interval else { continue }
    if let source = liveness.inPlaceSource[index], blockOf[source.index] >= 0 {
      let b = blockOf[source.index]
      blockOf[index] = b
      blocks[b].members.append(index)
      blocks[b].end = max(blocks[b].end, interval.end)
    } else {
      blockOf[index] = blocks.count
      blocks.append(Block(members: [index], start: interval.start, end: interval.end, bytes: interval.bytes))
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
  for (b, block) in blocks.enumerated() {
    for member in block.members {
      result.nodes[member].slot = MemorySlot(offset: best.offsets[b], size: block.bytes)
    }
  }
  result.arenaBytes = best.arena
  return result
}

/// Best-fit placement of `blocks` taken in `order`; returns each block's offset and the
/// aligned arena size.
private func place(_ blocks: [Block], in order: [Int]) -> (offsets: [Int], arena: Int) {
  var offsets = Array(repeating: 0, count: blocks.count)
  var placed: [Int] = []
  var top = 0
  for b in order {
    let block = blocks[b]
    if block.bytes == 0 { continue }
    let conflicts = placed.filter { blocks[$0].start <= block.end && block.start <= blocks[$0].end }
      .sorted { offsets[$0] < offsets[$1] }
    var candidate = 0
    var bestOffset: Int?
    var bestGap = Int.max
    for c in conflicts {
      let gap = offsets[c] - candidate
      if gap >= block.bytes && gap < bestGap {
        bestGap = gap
        bestOffset = candidate
      }
      candidate = max(candidate, alignedToArena(offsets[c] + blocks[c].bytes))
    }
    offsets[b] = bestOffset ?? candidate
    top = max(top, offsets[b] + block.bytes)
    placed.append(b)
  }
  return (offsets, alignedToArena(top))
}
