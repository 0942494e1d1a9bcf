/// Renders `graph` in the deterministic text form of IR/GRAMMAR.md, which `parseIR` reads back.
///
/// One op per line: `%N = op(%a, %b) {k=v} : f32[…]  @ :line:col`, attributes sorted, the type
/// and location columns aligned per program. Locations in the graph's main file (named once
/// by a `file` line) omit the file; inferred ones start with `~`; backward nodes end in `bw`.
/// Float lists longer than 8 values move to a `data #k` block at the end of their program.
/// - Parameters:
///   - graph: the graph to print.
///   - memory: whether to print memory slots (`[arena+0x… 1024B 1.0KiB]`) and arena sizes.
/// - Returns: the text, ending in a newline.
public func printIR(_ graph: Graph, memory: Bool = true) -> String {
  let mainFile = IRPrinter.mainFile(of: graph)
  var lines = ["\(IRText.magic) \(IRText.version) stage=\(IRText.name(graph.stage))"]
  if let mainFile { lines.append("file \(IRText.quote(mainFile))") }
  for key in graph.metadata.keys.sorted() {
    lines.append("meta \(IRText.name(key))=\(IRText.quote(graph.metadata[key]!))")
  }
  for key in graph.hyper.keys.sorted() {
    lines.append("hyper \(IRText.name(key))=\(IRText.number(graph.hyper[key]!))")
  }
  for program in graph.programs {
    lines.append("")
    var printer = IRPrinter(mainFile: mainFile, memory: memory)
    lines += printer.lines(of: program)
  }
  return lines.joined(separator: "\n") + "\n"
}

/// Prints one program; collects long float lists into `data` blocks.
struct IRPrinter {
  /// The file that locations omit.
  let mainFile: String?
  /// Whether to print slots and the arena size.
  let memory: Bool
  /// Float lists moved out of line, numbered `#0`, `#1`, … in order of appearance.
  var data: [[Float]] = []

  /// The most common file among the graph's known locations (ties: the smallest name).
  static func mainFile(of graph: Graph) -> String? {
    var counts: [String: Int] = [:]
    for program in graph.programs {
      for node in program.nodes where node.loc != .unknown {
        counts[node.loc.file, default: 0] += 1
      }
    }
    return counts.max { a, b in a.value < b.value || (a.value == b.value && a.key > b.key) }?.key
  }

  /// The program's lines, from `program @name {` to `}`.
  mutating func lines(of program: Program) -> [String] {
    let slotted = program.nodes.filter { $0.slot != nil }
    let dtypeWidth = slotted.map(\.type.description.count).filter { $0 <= 24 }.max() ?? 0
    var rows: [(scope: String, op: String, type: String, trailer: String)] = []
    for (index, node) in program.nodes.enumerated() {
      rows.append(
        (node.scope, opText(node, index: index), typeText(node, width: dtypeWidth), trailer(node)))
    }
    let opWidth = rows.map(\.op.count).filter { $0 <= 56 }.max() ?? 0
    let typeWidth = rows.map(\.type.count).filter { $0 <= 64 }.max() ?? 0
    var lines = ["program @\(IRText.name(program.name)) {"]
    var scope = ""
    for row in rows {
      if row.scope != scope {
        scope = row.scope
        lines.append("  scope \(IRText.name(scope))")
      }
      let head = "  " + pad(row.op, opWidth) + " : "
      lines.append(
        row.trailer.isEmpty ? head + row.type : head + pad(row.type, typeWidth) + "  " + row.trailer
      )
    }
    let outputs = program.outputs.map { "\(IRText.name($0.name))=\($0.value)" }
    lines.append(outputs.isEmpty ? "  return" : "  return " + outputs.joined(separator: ", "))
    if memory, let bytes = program.arenaBytes {
      lines.append("  arena \(bytes)B \(byteText(bytes))")
    }
    for (k, values) in data.enumerated() {
      lines.append("  data #\(k) = [")
      var start = 0
      while start < values.count {
        let end = min(start + IRText.floatsPerLine, values.count)
        let chunk = values[start..<end].map(\.description).joined(separator: ", ")
        lines.append("    " + chunk + (end < values.count ? "," : ""))
        start = end
      }
      lines.append("  ]")
    }
    lines.append("}")
    return lines
  }

  /// `%3 = linear(%0, %1, %2) {k=v}`; leaves print without parentheses.
  private mutating func opText(_ node: Node, index: Int) -> String {
    var text = "%\(index) = \(node.op.name)"
    if !node.operands.isEmpty {
      text += "(" + node.operands.map(\.description).joined(separator: ", ") + ")"
    }
    if !node.attrs.isEmpty {
      let items = node.attrs.keys.sorted().map { "\(IRText.name($0))=\(value(node.attrs[$0]!))" }
      text += " {" + items.joined(separator: ", ") + "}"
    }
    return text
  }

  /// An attribute value; floats keep a `.`, `e`, `inf` or `nan` so they never read as ints.
  private mutating func value(_ attr: Attr) -> String {
    switch attr {
    case .int(let v): return String(v)
    case .float(let v): return v.description
    case .string(let v): return IRText.quote(v)
    case .ints(let v): return "[" + v.map(String.init).joined(separator: ",") + "]"
    case .floats(let v):
      if v.count <= IRText.inlineFloats {
        return "[" + v.map(\.description).joined(separator: ",") + "]"
      }
      data.append(v)
      return "#\(data.count - 1)"
    }
  }

  /// `f32[2,3]`, plus ` [arena+0x00000040 24B 24B]` (aligned at `width`) once memory is planned.
  private func typeText(_ node: Node, width: Int) -> String {
    guard memory, let slot = node.slot else { return node.type.description }
    let size = "\(slot.size)B \(byteText(slot.size))"
    if let buffer = slot.buffer {
      return pad(node.type.description, width) + " [buffer \(IRText.quote(buffer)) \(size)]"
    }
    return pad(node.type.description, width) + " [arena+\(IRText.hex(slot.offset)) \(size)]"
  }

  /// `@ :58:31`, `@ ~"other.swift":3:9` (then ` + :60:2` per absorbed location of a fused
  /// node), then ` bw` for backward nodes, then an `eltwise_chain`'s program as a comment
  /// (`// t0 = sub(x0, x1); t1 = div(t0, x2)`).
  private func trailer(_ node: Node) -> String {
    var parts: [String] = []
    if node.loc != .unknown {
      let loc = node.loc
      var text = "@ " + locText(loc)
      for other in node.absorbed { text += " + " + locText(other) }
      parts.append(text)
    }
    if node.isBackward { parts.append("bw") }
    if node.op == .eltwiseChain,
      let program = try? EltwiseProgram(
        encoded: node.attrs.ints("program"), operandCount: node.operands.count)
    {
      parts.append(
        "// " + program.text(factors: EltwiseProgram.factorNames.map { node.attrs.float($0) }))
    }
    return parts.joined(separator: " ")
  }

  /// `:58:31`, `~"other.swift":3:9`.
  private func locText(_ loc: SourceLoc) -> String {
    let file = loc.file == mainFile ? "" : IRText.quote(loc.file)
    return "\(loc.inferred ? "~" : "")\(file):\(loc.line):\(loc.column)"
  }

  private func pad(_ s: String, _ width: Int) -> String {
    s.count >= width ? s : s + String(repeating: " ", count: width - s.count)
  }
}
