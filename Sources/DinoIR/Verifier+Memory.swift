extension Verifier {
  /// The live interval of each value, in node positions: from its definition (position 0 for
  /// `input` and `constant` leaves, which the runtime fills before the program runs) to its
  /// last use, or to the end of the program (`nodes.count`) for outputs.
  public static func liveIntervals(of program: Program) -> [ClosedRange<Int>] {
    var end = Array(program.nodes.indices)
    for (index, node) in program.nodes.enumerated() {
      for operand in node.operands where operand.index >= 0 && operand.index < index {
        end[operand.index] = index
      }
    }
    for output in program.outputs where output.value.index >= 0 && output.value.index < end.count {
      end[output.value.index] = program.nodes.count
    }
    return program.nodes.indices.map { i in
      let leaf = program.nodes[i].op == .input || program.nodes[i].op == .constant
      return (leaf ? 0 : i)...end[i]
    }
  }

  /// Slot problems after `planMemory`: each slot fits its value and the arena, persistent and
  /// effect values take no slot, and values live at the same time use disjoint bytes, except
  /// that an op allowed in place (ops.def) may write operand 0's slot at the same offset when
  /// it is that operand's last use.
  static func memoryProblems(of program: Program) -> [CompileError] {
    let slotted = program.nodes.indices.filter { program.nodes[$0].slot != nil }
    if slotted.isEmpty { return [] }
    var errors: [CompileError] = []
    func fail(_ index: Int, _ message: String) {
      errors.append(
        CompileError(
          message, at: program.nodes[index].loc, notes: ["in %\(index) of @\(program.name)"]))
    }
    func range(_ slot: MemorySlot) -> String {
      "[\(IRText.hex(slot.offset)), \(IRText.hex(slot.offset + slot.size)))"
    }
    let live = liveIntervals(of: program)
    var valid: [Int] = []
    for index in slotted {
      let node = program.nodes[index]
      let slot = node.slot!
      if node.op == .parameter || node.op.isEffect {
        let why = node.op == .parameter ? "persistent" : "effect result"
        fail(index, "\(node.op.name): %\(index) takes no arena slot (\(why))")
      } else if let arena = program.arenaBytes {
        if slot.size < node.type.byteSize {
          let needed = node.type.byteSize
          fail(index, "slot of %\(index) holds \(slot.size) bytes but \(node.type) needs \(needed)")
        } else if slot.offset < 0 || slot.offset + slot.size > arena {
          fail(index, "slot of %\(index) \(range(slot)) lies outside the arena of \(arena) bytes")
        } else {
          valid.append(index)
        }
      } else {
        fail(index, "%\(index) has a slot but @\(program.name) has no arena size")
      }
    }
    let order = valid.sorted { (live[$0].lowerBound, $0) < (live[$1].lowerBound, $1) }
    var active: [Int] = []
    for j in order {
      let start = live[j].lowerBound
      let node = program.nodes[j]
      let a = node.slot!
      active.removeAll { live[$0].upperBound < start }
      for i in active {
        let b = program.nodes[i].slot!
        guard a.offset < b.offset + b.size && b.offset < a.offset + a.size else { continue }
        let inPlace =
          node.op.allowsInPlace && node.operands.first?.index == i
          && live[i].upperBound == j && a.offset == b.offset
        if !inPlace {
          fail(j, "slots of %\(i) \(range(b)) and %\(j) \(range(a)) overlap while both are live")
          break
        }
      }
      active.append(j)
    }
    return errors
  }
}
