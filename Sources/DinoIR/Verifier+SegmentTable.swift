extension Verifier {
  /// The first problem of the segment table of an `adamw_flat` or `ema_flat` node (`nil`
  /// for other ops): the table must be a `constant`, every integer column a whole number
  /// hi·2^24 + lo with 0 ≤ lo, hi < 2^24, the flags 0 or 1, each segment non-empty and
  /// inside the regions, segments in ascending order without overlap, and (for
  /// `adamw_flat`) each step index inside the step-count region.
  static func segmentTableProblem(of node: Node, in program: Program) -> String? {
    guard let tableOperand = node.op.segmentTableOperands?.table else { return nil }
    let name = node.op.name
    let tableNode = program[node.operands[tableOperand]]
    guard tableNode.op == .constant else {
      return "\(name): the segment table (operand \(tableOperand)) must be a constant"
    }
    let data = tableNode.attrs.floats("data")
    let width = OpKind.segmentTableColumns
    let regionCount = program[node.operands[0]].type.count
    let stepCount = node.op == .adamwFlat ? program[node.operands[4]].type.count : 1
    var end = 0
    for row in 0..<(data.count / width) {
      let cells = Array(data[(row * width)..<(row * width + width)])
      func whole(_ column: Int) -> Int? {
        let hi = cells[column], lo = cells[column + 1]
        guard hi == hi.rounded(), lo == lo.rounded(), (0..<16_777_216).contains(hi),
          (0..<16_777_216).contains(lo)
        else { return nil }
        return Int(hi) * (1 << 24) + Int(lo)
      }
      guard let offset = whole(0), let count = whole(2), let step = whole(4) else {
        return "\(name): segment \(row): offset, count and step must be whole numbers "
          + "hi·2^24 + lo with 0 ≤ hi, lo < 2^24"
      }
      guard cells[6] == 0 || cells[6] == 1, cells[7] == 0 || cells[7] == 1 else {
        return "\(name): segment \(row): the decay and gate flags must be 0 or 1"
      }
      if count < 1 || offset < end || offset + count > regionCount {
        return "\(name): segment \(row) [\(offset), \(offset + count)) is empty, overlaps the "
          + "one before or lies outside the \(regionCount)-element regions"
      }
      if step >= stepCount {
        return "\(name): segment \(row): step index \(step) lies outside the "
          + "\(stepCount) step counts"
      }
      end = offset + count
    }
    return nil
  }
}

extension Verifier {
  /// The problems of `region` leaves and flat segment tables against the persistent layout
  /// of `graph`: a leaf must span its whole region, and every segment must be exactly one
  /// buffer in each region the op reads or updates (and one 1-element buffer of the step
  /// counts, for `adamw_flat`). Empty when the graph has no region leaf.
  static func layoutProblems(_ graph: Graph) -> [CompileError] {
    let hasRegions = graph.programs.contains { $0.nodes.contains { $0.op == .region } }
    guard hasRegions else { return [] }
    let layout = PersistentLayout(graph)
    var bufferAt: [String: [Int: Int]] = [:]  // region → byte offset → bytes
    for entry in layout.entries.values {
      bufferAt[entry.region, default: [:]][entry.offset] = entry.bytes
    }
    var errors: [CompileError] = []
    for program in graph.programs {
      for (index, node) in program.nodes.enumerated() {
        func fail(_ message: String) {
          errors.append(
            CompileError(message, at: node.loc, notes: ["in %\(index) of @\(program.name)"]))
        }
        if node.op == .region {
          let name = node.attrs.string("name")
          let bytes = layout.regionBytes[name] ?? 0
          if bytes == 0 || bytes != node.type.byteSize {
            fail(
              "region: '\(name)' is \(bytes / 4) elements in the persistent layout, the "
                + "leaf says \(node.type)")
          }
          continue
        }
        guard let (tableOperand, mirrored) = node.op.segmentTableOperands else { continue }
        let table = program[node.operands[tableOperand]].attrs.floats("data")
        let width = OpKind.segmentTableColumns
        func regionName(_ operand: Int) -> String {
          program[node.operands[operand]].attrs.string("name")
        }
        rows: for row in 0..<(table.count / width) {
          func whole(_ column: Int) -> Int {
            Int(table[row * width + column]) * (1 << 24) + Int(table[row * width + column + 1])
          }
          let offset = whole(0) * 4, bytes = whole(2) * 4
          for operand in mirrored where bufferAt[regionName(operand)]?[offset] != bytes {
            fail(
              "\(node.op.name): segment \(row) (element \(offset / 4), \(bytes / 4) "
                + "elements) is no buffer of region '\(regionName(operand))': the segment table "
                + "does not match the persistent layout (recompile the plan)")
            break rows
          }
          if node.op == .adamwFlat && bufferAt[regionName(4)]?[whole(4) * 4] != 4 {
            fail(
              "adamw_flat: segment \(row): step index \(whole(4)) is no step count of "
                + "region '\(regionName(4))' (recompile the plan)")
            break rows
          }
        }
      }
    }
    return errors
  }
}
