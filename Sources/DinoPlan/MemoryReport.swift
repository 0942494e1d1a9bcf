import DinoIR

/// The memory table of `dinoc dump --memory`: per program, the arena against its liveness
/// lower bound and the ten largest slot lifetimes (a slot lives until the last view of it
/// dies; the row names the value that writes it); then the recompute summary and the
/// persistent regions.
///
/// Example:
/// ```
/// memory @train_step: arena 12.3MiB (12898304B), lower bound 11.0MiB (11534336B), efficiency 89.4%
///   naive 40.1MiB, 1234 transient values, 56 in place, 80 views (reshapes sharing a slot)
///   152 values computed into persistent buffers instead of the arena (gradients in region grad), 21.6MiB
///   largest lifetimes (bytes × positions live):
///     %212 layer_norm f32[64,197,384]  19.4MiB  live 213..871 (1 view)  at 0x04A00000  @ mo…
/// persistent regions: student 21.6MiB, teacher 21.6MiB, …
/// ```
/// - Parameter graph: a graph, planned or not (unplanned programs say so).
/// - Returns: the text, one line per row, ending in a newline.
public func memoryReport(_ graph: Graph) -> String {
  var lines: [String] = []
  for program in graph.programs {
    let stats = memoryStatistics(program)
    let bound = "lower bound \(byteText(stats.lowerBound)) (\(stats.lowerBound)B)"
    if let arena = stats.arenaBytes {
      let percent = (stats.efficiency * 1000).rounded() / 10
      lines.append(
        "memory @\(program.name): arena \(byteText(arena)) (\(arena)B), \(bound), efficiency \(percent)%"
      )
    } else {
      lines.append("memory @\(program.name): not planned, \(bound)")
    }
    lines.append(
      "  naive \(byteText(stats.naiveBytes)), \(stats.transientCount) transient values, "
        + "\(stats.inPlaceCount) in place"
        + (stats.viewCount == 0
          ? "" : ", \(stats.viewCount) views (reshapes sharing a slot)"))
    let homed = program.nodes.filter { $0.slot?.buffer != nil }
    if !homed.isEmpty {
      let bytes = homed.reduce(0) { $0 + $1.type.byteSize }
      lines.append(
        "  \(homed.count) values computed into persistent buffers instead of the arena "
          + "(gradients in region grad), \(byteText(bytes))")
    }
    let liveness = Liveness(program)
    var views = Array(repeating: 0, count: program.nodes.count)
    for case let source? in liveness.viewSource { views[liveness.slotOwner[source.index]] += 1 }
    let largest = liveness.slotIntervals.sorted {
      let a = $0.bytes * ($0.end - $0.start + 1), b = $1.bytes * ($1.end - $1.start + 1)
      return a != b ? a > b : $0.value < $1.value
    }.prefix(10)
    if largest.isEmpty { continue }
    lines.append("  largest lifetimes (bytes × positions live):")
    var rows: [[String]] = []
    for interval in largest {
      let node = program[interval.value]
      let end = interval.end == program.nodes.count ? "end" : "\(interval.end)"
      rows.append([
        "\(interval.value)", node.op.name, node.type.description, byteText(interval.bytes),
        "live \(interval.start)..\(end)" + viewsText(views[interval.value.index]),
        node.slot.map { $0.buffer.map { "in \($0)" } ?? "at \(hexText($0.offset))" } ?? "unplaced",
        node.loc == .unknown ? "" : "@ \(node.loc)",
      ])
    }
    let widths = (0..<7).map { column in rows.map { $0[column].count }.max() ?? 0 }
    for row in rows {
      let cells = row.enumerated().map { $1 + String(repeating: " ", count: widths[$0] - $1.count) }
      lines.append(
        "    " + cells.joined(separator: "  ").replacingTrailingSpaces())
    }
  }
  if let recompute = recomputeSummary(graph) { lines.append(recompute) }
  let layout = PersistentLayout(graph)
  if !layout.regions.isEmpty {
    let regions = layout.regions.map { "\($0) \(byteText(layout.regionBytes[$0] ?? 0))" }
    lines.append("persistent regions: " + regions.joined(separator: ", "))
  }
  return lines.map { $0 + "\n" }.joined()
}

/// ` (2 views)` after a slot's lifetime: how many views share it; empty for none.
func viewsText(_ count: Int) -> String {
  count == 0 ? "" : " (\(count) view\(count == 1 ? "" : "s"))"
}

/// `0x0004A000`: upper-case hex, at least 8 digits.
func hexText(_ n: Int) -> String {
  let digits = String(n, radix: 16, uppercase: true)
  return "0x" + String(repeating: "0", count: max(0, 8 - digits.count)) + digits
}

extension String {
  /// The string without trailing spaces.
  fileprivate func replacingTrailingSpaces() -> String {
    var s = self
    while s.last == " " { s.removeLast() }
    return s
  }
}
