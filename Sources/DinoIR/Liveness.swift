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
/// that node's position on.

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
public struct Liveness: Sendable {
  /// Per value, its live interval; `nil` for values that take no arena memory.
  public let intervals: [LiveInterval?]
  /// Per value, the operand whose arena slot it may take over (in place), else `nil`.
  ///
  /// Value `j` may reuse operand 0's exact slot when ops.def allows the op in place,
  /// operand 0 is transient, is not a program output, has the same byte size, and its
  /// last use is node `j`.
  public let inPlaceSource: [ValueID?]

  /// Computes the liveness of `program`; operands that do not name an earlier node are
  /// ignored (the verifier reports them).
  /// - Parameter program: the program, in schedule order.
  public init(_ program: Program) {
    let count = program.nodes.count
    var end = Array(0..<count)
    var isOutput = Array(repeating: false, count: count)
    for (index, node) in program.nodes.enumerated() {
      for operand in node.operands where operand.index >= 0 && operand.index < index {
        end[operand.index] = index
      }
    }
    for output in program.outputs where output.value.index >= 0 && output.value.index < count {
      end[output.value.index] = count
      isOutput[output.value.index] = true
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
    var sources: [ValueID?] = Array(repeating: nil, count: count)
    for (index, node) in program.nodes.enumerated() where node.op.allowsInPlace && node.isTransient
    {
      guard let first = node.operands.first, first.index >= 0, first.index < index,
        let operand = intervals[first.index], !isOutput[first.index], operand.end == index,
        operand.bytes == node.type.byteSize
      else { continue }
      sources[index] = first
    }
    self.intervals = intervals
    self.inPlaceSource = sources
    self.inBuffers = Set(program.nodes.indices.filter { program.nodes[$0].slot?.buffer != nil })
  }

  /// The values a memory plan computes into persistent buffers (`MemorySlot.buffer`): they
  /// take no arena bytes, so `transient`, `lowerBound` and `naiveBytes` leave them out.
  public let inBuffers: Set<Int>

  /// The transient values' intervals, in value order (without those in persistent buffers).
  public var transient: [LiveInterval] {
    var result: [LiveInterval] = []
    for case let interval? in intervals where !inBuffers.contains(interval.value.index) {
      result.append(interval)
    }
    return result
  }

  /// The sum of all transient sizes: the arena of a plan that never reuses memory.
  public var naiveBytes: Int { transient.reduce(0) { $0 + $1.bytes } }

  /// The peak over positions of the bytes live at that position, counting a value that may
  /// be computed in place only once: no sound plan of this order needs a smaller arena.
  public var lowerBound: Int {
    let count = intervals.count
    var delta = Array(repeating: 0, count: count + 2)
    for interval in transient {
      delta[interval.start] += interval.bytes
      delta[interval.end + 1] -= interval.bytes
    }
    var live = 0, peak = 0
    for position in 0...count {
      live += delta[position]
      var saved = 0
      if position < count, inPlaceSource[position] != nil, !inBuffers.contains(position),
        let own = intervals[position]
      {
        saved = own.bytes
      }
      peak = max(peak, live - saved)
    }
    return peak
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
    naiveBytes: transient.reduce(0) { $0 + $1.bytes }, transientCount: transient.count,
    inPlaceCount: inPlace)
}
