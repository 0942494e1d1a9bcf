/// Liveness of the transient values of a program (the memory proof, `memoryProblems`, is in
/// MemoryPlanCheck.swift).
///
/// A value is *transient* when it lives in its program's arena: every node except leaves
/// (`input`, `parameter` and `constant` live in their own regions, filled by the runtime)
/// and effect ops (whose `f32[]` result is a dummy). A transient value is live from the
/// position of its definition to its last use, inclusive; a program output stays live to
/// the end (position `nodes.count`). An op reads its operands while it writes its result,
/// so a value and the operands of its defining node are live at the same time; the one
/// exception is in-place reuse (see `Liveness.inPlaceSource`). A `result` node's value (result
/// k of an op with several results) is written by the node it projects, so it is live from
/// that node's position on. A `reshape` is a view of its operand (`Liveness.viewSource`): it
/// shares the operand's slot, which stays live until the last value sharing it dies.

/// The alignment, in bytes, of every arena offset and of every arena size.
public let arenaAlignment = 64

/// Rounds `bytes` up to a multiple of `arenaAlignment`.
/// - Parameter bytes: a non-negative size.
public func alignedToArena(_ bytes: Int) -> Int {
  (bytes + arenaAlignment - 1) / arenaAlignment * arenaAlignment
}

extension Node {
  /// Whether the node's value lives in the arena (not a leaf, not an effect op).
  public var isTransient: Bool { !op.isLeaf && !op.isEffect }
}

/// The live range of one transient value, in node positions (both ends inclusive).
public struct LiveInterval: Hashable, Sendable {
  /// The value.
  public var value: ValueID
  /// The position of its definition.
  public var start: Int
  /// The position of its last use (its definition when unused; `nodes.count` for outputs).
  public var end: Int
  /// Its size in bytes (`type.byteSize`).
  public var bytes: Int

  /// Creates an interval.
  public init(value: ValueID, start: Int, end: Int, bytes: Int) {
    self.value = value
    self.start = start
    self.end = end
    self.bytes = bytes
  }

  /// Whether both intervals contain a common position.
  public func intersects(_ other: LiveInterval) -> Bool {
    start <= other.end && other.start <= end
  }
}

/// The liveness facts of one program over its node order.
///
/// A `reshape` of a transient value is a *view*: it shares its operand's slot (no bytes
/// move), so the slot stays live until the last value sharing it dies
/// (`sharedEnd`). Values computed into persistent buffers are never views, nor viewed, and
/// in a planned program a reshape is a view only when its slot equals its operand's.
public struct Liveness: Sendable {
  /// Per value, its live interval; `nil` for values that take no arena memory.
  public let intervals: [LiveInterval?]
  /// Per value, the operand whose arena slot it may take over (in place), else `nil`.
  ///
  /// Value `j` may reuse operand 0's exact slot when ops.def allows the op in place, `j`
  /// is not a view, operand 0 is transient, has the same byte size, every value sharing
  /// its slot (views) dies at node `j` (so none is a program output), and no other
  /// operand of `j` is a different value sharing that slot.
  public let inPlaceSource: [ValueID?]
  /// Per value, the operand a `reshape` views (shares the slot of), else `nil`.
  public let viewSource: [ValueID?]
  /// Per value, the value that writes its slot: itself, or for a view the end of its
  /// `viewSource` chain.
  public let slotOwner: [Int]
  /// Per slot owner, the last position any value sharing its slot is live (its own
  /// interval's end for a value no view shares).
  public let sharedEnd: [Int]

  /// Computes the liveness of `program`; the values in persistent buffers are those whose
  /// slot names one (`MemorySlot.buffer`).
  /// - Parameter program: the program, in schedule order.
  public init(_ program: Program) {
    self.init(
      program,
      inBuffers: Set(program.nodes.indices.filter { program.nodes[$0].slot?.buffer != nil }))
  }

  /// Computes the liveness of `program`; operands that do not name an earlier node are
  /// ignored (the verifier reports them).
  /// - Parameters:
  ///   - program: the program, in schedule order.
  ///   - inBuffers: the values computed into persistent buffers (the planner's choice).
  public init(_ program: Program, inBuffers: Set<Int>) {
    let count = program.nodes.count
    var end = Array(0..<count)
    for (index, node) in program.nodes.enumerated() {
      for operand in node.operands where operand.index >= 0 && operand.index < index {
        end[operand.index] = index
      }
    }
    for output in program.outputs where output.value.index >= 0 && output.value.index < count {
      end[output.value.index] = count
    }
    var intervals: [LiveInterval?] = []
    intervals.reserveCapacity(count)
    for (index, node) in program.nodes.enumerated() {
      // Result k of a node with several results is written when that node runs.
      var start = index
      if node.op == .result, let producer = node.operands.first, producer.index >= 0,
        producer.index < index
      {
        start = producer.index
      }
      let bytes = node.type.byteSize
      intervals.append(
        node.isTransient
          ? LiveInterval(value: ValueID(index), start: start, end: end[index], bytes: bytes)
          : nil)
    }
    var views: [ValueID?] = Array(repeating: nil, count: count)
    var owner = Array(0..<count)
    var sharedEnd = end
    for (index, node) in program.nodes.enumerated() where node.op == .reshape {
      guard let first = node.operands.first, first.index >= 0, first.index < index,
        intervals[index] != nil, intervals[first.index] != nil,
        !inBuffers.contains(index), !inBuffers.contains(first.index),
        node.slot == nil || node.slot == program[first].slot
      else { continue }
      views[index] = first
      owner[index] = owner[first.index]
      sharedEnd[owner[index]] = max(sharedEnd[owner[index]], end[index])
    }
    var sources: [ValueID?] = Array(repeating: nil, count: count)
    for (index, node) in program.nodes.enumerated()
    where node.op.allowsInPlace && node.isTransient && views[index] == nil {
      guard let first = node.operands.first, first.index >= 0, first.index < index,
        let operand = intervals[first.index], sharedEnd[owner[first.index]] == index,
        operand.bytes == node.type.byteSize,
        !node.operands.contains(where: {
          $0 != first && $0.index >= 0 && $0.index < index
            && owner[$0.index] == owner[first.index]
        })
      else { continue }
      sources[index] = first
    }
    self.intervals = intervals
    self.inPlaceSource = sources
    self.viewSource = views
    self.slotOwner = owner
    self.sharedEnd = sharedEnd
    self.inBuffers = inBuffers
  }

  /// The values a memory plan computes into persistent buffers (`MemorySlot.buffer`): they
  /// take no arena bytes, so `transient`, `lowerBound` and `naiveBytes` leave them out.
  public let inBuffers: Set<Int>

  /// The transient values' intervals, in value order (without those in persistent buffers;
  /// with the views, which share their owner's bytes).
  public var transient: [LiveInterval] {
    var result: [LiveInterval] = []
    for case let interval? in intervals where !inBuffers.contains(interval.value.index) {
      result.append(interval)
    }
    return result
  }

  /// The transient values that own their slot (not views), each with the interval its slot
  /// is live: from its definition to the last use of any value sharing it.
  public var slotIntervals: [LiveInterval] {
    transient.compactMap { interval in
      let value = interval.value.index
      guard viewSource[value] == nil else { return nil }
      var whole = interval
      whole.end = sharedEnd[value]
      return whole
    }
  }

  /// The sum of the sizes of all slots: the arena of a plan that never reuses memory.
  public var naiveBytes: Int { slotIntervals.reduce(0) { $0 + $1.bytes } }

  /// The peak over positions of the bytes live at that position, counting each slot once
  /// (views share their owner's) and a value that may be computed in place only once: no
  /// sound plan of this order needs a smaller arena.
  public var lowerBound: Int { peak.bytes }

  /// `lowerBound` and the first position where it is reached (0 for an empty program).
  public var peak: (bytes: Int, position: Int) {
    let count = intervals.count
    var delta = Array(repeating: 0, count: count + 2)
    for interval in slotIntervals {
      delta[interval.start] += interval.bytes
      delta[interval.end + 1] -= interval.bytes
    }
    var live = 0, peak = 0, at = 0
    for position in 0...count {
      live += delta[position]
      var saved = 0
      if position < count, inPlaceSource[position] != nil, !inBuffers.contains(position),
        let own = intervals[position]
      {
        saved = own.bytes
      }
      if live - saved > peak {
        peak = live - saved
        at = min(position, max(count - 1, 0))
      }
    }
    return (peak, at)
  }
}

/// The peak of simultaneously live transient bytes of `program` (see `Liveness.lowerBound`).
/// - Parameter program: the program, in schedule order.
public func liveLowerBound(_ program: Program) -> Int { Liveness(program).lowerBound }

/// Memory figures of one program: what its plan uses against what it must use.
public struct MemoryStatistics: Hashable, Sendable {
  /// The planned arena size, `nil` before `planMemory`.
  public var arenaBytes: Int?
  /// The liveness lower bound (`liveLowerBound`).
  public var lowerBound: Int
  /// The sum of all transient sizes (no reuse at all).
  public var naiveBytes: Int
  /// The number of transient values.
  public var transientCount: Int
  /// The number of values computed in place (slot equal to operand 0's slot).
  public var inPlaceCount: Int
  /// The number of views: reshapes sharing their operand's slot (no bytes move).
  public var viewCount: Int

  /// `lowerBound / arenaBytes` (1 for an empty arena, 0 before planning): 1 is optimal.
  public var efficiency: Double {
    guard let arena = arenaBytes else { return 0 }
    return arena == 0 ? 1 : Double(lowerBound) / Double(arena)
  }
}

/// The memory figures of `program`.
/// - Parameter program: a program, planned or not.
public func memoryStatistics(_ program: Program) -> MemoryStatistics {
  let liveness = Liveness(program)
  var inPlace = 0
  for (index, source) in liveness.inPlaceSource.enumerated() {
    if let source, let slot = program.nodes[index].slot, slot == program[source].slot {
      inPlace += 1
    }
  }
  let transient = liveness.transient
  return MemoryStatistics(
    arenaBytes: program.arenaBytes, lowerBound: liveness.lowerBound,
    naiveBytes: liveness.naiveBytes, transientCount: transient.count, inPlaceCount: inPlace,
    viewCount: transient.filter { liveness.viewSource[$0.value.index] != nil }.count)
}
