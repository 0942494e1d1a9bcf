import DinoIR
import Foundation

/// Writes plan.bin files (IR/PLAN_FORMAT.md): a header, a section table, seven sections.
public enum PlanWriter {
  /// Encodes a planned graph. The same graph always gives the same bytes.
  /// - Parameter graph: a graph that passes `Verifier.verify` and whose every program has
  ///   a sound memory plan (`memoryProblems` is empty): the output of `Pipeline.run`.
  /// - Returns: the file's bytes.
  /// - Throws: `PlanError` when the graph is invalid, unplanned, or beyond the format's
  ///   limits (rank > 6, more than 255 attributes on a node).
  public static func encode(_ graph: Graph) throws(PlanError) -> [UInt8] {
    try encode(graph, validating: true)
  }

  /// Encodes `graph`; without validation only for tests that need a well-formed file
  /// holding a bad graph (the reader must refuse it).
  static func encode(_ graph: Graph, validating: Bool) throws(PlanError) -> [UInt8] {
    if validating { try check(graph) }
    var strings = StringTable()
    var sections: [[UInt8]] = []
    sections.append([])  // strings: filled last, once every string is interned
    sections.append(try programs(graph, &strings))
    sections.append(outputs(graph, &strings))
    sections.append(arenas(graph))
    sections.append(buffers(graph, &strings))
    sections.append(hyper(graph, &strings))
    sections.append(metadata(graph, &strings))
    sections[0] = strings.encoded()

    let tableEnd = PlanFormat.headerSize + PlanFormat.sectionEntrySize * sections.count
    let fileSize = tableEnd + sections.reduce(0) { $0 + $1.count }
    var out = ByteWriter()
    out.bytes.reserveCapacity(fileSize)
    out.bytes += PlanFormat.magic
    out.u32(PlanFormat.version)
    out.u32(PlanFormat.byteOrderMark)
    out.u64(PlanFormat.opTableFingerprint)
    out.u32(UInt32(OpKind.allOps.count))
    out.u32(UInt32(arenaAlignment))
    out.u64(UInt64(fileSize))
    out.u32(UInt32(sections.count))
    out.u32(0)  // header CRC, patched below
    var offset = tableEnd
    for (kind, section) in zip(PlanFormat.Section.allCases, sections) {
      out.u32(kind.rawValue)
      out.u32(0)
      out.u64(UInt64(offset))
      out.u64(UInt64(section.count))
      out.u32(PlanFormat.crc32(section, 0..<section.count))
      out.u32(0)
      offset += section.count
    }
    let headerCRC = PlanFormat.crc32(
      out.bytes, PlanFormat.headerSize..<tableEnd, seed: PlanFormat.crc32(out.bytes, 0..<44))
    out.patch32(headerCRC, at: 44)
    for section in sections { out.bytes += section }
    return out.bytes
  }

  /// Encodes `graph` and writes it to `path` atomically (a temporary file, then a rename).
  /// - Parameters:
  ///   - graph: a planned graph (see `encode`).
  ///   - path: the destination.
  /// - Throws: `PlanError` from `encode`, or naming the path when it cannot be written.
  public static func write(_ graph: Graph, to path: String) throws(PlanError) {
    var bytes: [UInt8]
    do {
      bytes = try encode(graph)
    } catch {
      var e = error
      e.file = path
      throw e
    }
    do {
      try Data(bytes).write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw PlanError(
        "cannot write: \(error.localizedDescription)",
        hint: "check that the folder exists and is writable",
        file: path)
    }
  }

  /// Refuses graphs the reader would refuse.
  private static func check(_ graph: Graph) throws(PlanError) {
    do {
      try Verifier.verify(graph)
    } catch {
      throw PlanError("cannot write an invalid graph: \(oneLine(error))", hint: PlanError.writeHint)
    }
    for (key, value) in graph.hyper where !value.isFinite {
      throw PlanError(
        "cannot write: hyper-parameter '\(key)' is \(value)", hint: PlanError.writeHint)
    }
    // The memory proof ran at the end of compilation (Pipeline) and runs again at load
    // (PlanReader); the writer only refuses a program that was never planned.
    for program in graph.programs {
      if let problem = unplannedProblem(program) {
        throw PlanError("cannot write: \(problem)", hint: PlanError.writeHint)
      }
      for (index, node) in program.nodes.enumerated() {
        if node.type.rank > PlanFormat.maxRank {
          throw PlanError(
            "cannot write: %\(index) of @\(program.name) has rank \(node.type.rank) > \(PlanFormat.maxRank)",
            hint: PlanError.writeHint)
        }
        let lineRange = 0...Int(UInt32.max)
        if node.absorbed.count > PlanFormat.maxAbsorbed {
          let most = PlanFormat.maxAbsorbed
          throw PlanError(
            "cannot write: %\(index) of @\(program.name) absorbed more than \(most) locations",
            hint: PlanError.writeHint)
        }
        if ([node.loc] + node.absorbed).contains(where: {
          !lineRange.contains($0.line) || !lineRange.contains($0.column)
        }) {
          throw PlanError(
            "cannot write: %\(index) of @\(program.name) has location \(node.loc) outside 0...2^32-1",
            hint: PlanError.writeHint)
        }
        for (key, value) in node.attrs {
          if case .float(let v) = value, !v.isFinite {
            throw PlanError(
              "cannot write: attribute '\(key)' of %\(index) of @\(program.name) is \(v)",
              hint: PlanError.writeHint)
          }
        }
        if node.attrs.count > 255 {
          throw PlanError(
            "cannot write: %\(index) of @\(program.name) has more than 255 attributes",
            hint: PlanError.writeHint)
        }
      }
    }
  }

  private static func programs(_ graph: Graph, _ strings: inout StringTable) throws(PlanError)
    -> [UInt8]
  {
    var w = ByteWriter()
    w.u32(UInt32(graph.programs.count))
    for program in graph.programs {
      w.u32(strings[program.name])
      w.u32(UInt32(program.nodes.count))
      for node in program.nodes {
        w.u16(UInt16(node.op.rawValue))
        var flags: UInt8 = 0
        if node.isBackward { flags |= 1 }
        if node.slot != nil { flags |= 2 }
        if node.loc.inferred { flags |= 4 }
        if !node.absorbed.isEmpty { flags |= 8 }
        if node.slot?.buffer != nil { flags |= 16 }
        w.u8(flags)
        w.u8(UInt8(node.attrs.count))
        w.u16(UInt16(node.operands.count))
        w.u8(PlanFormat.code(node.type.dtype))
        w.u8(UInt8(node.type.rank))
        for dim in node.type.shape { w.i64(Int64(dim)) }
        for operand in node.operands { w.u32(UInt32(operand.index)) }
        for key in node.attrs.keys.sorted() {
          w.u32(strings[key])
          let value = node.attrs[key]!
          w.u8(value.kind.rawValue.asciiValue!)
          switch value {
          case .int(let v): w.i64(Int64(v))
          case .float(let v): w.f64(v)
          case .string(let v): w.u32(strings[v])
          case .ints(let v):
            w.u32(UInt32(v.count))
            for x in v { w.i64(Int64(x)) }
          case .floats(let v):
            w.u32(UInt32(v.count))
            for x in v { w.f32(x) }
          }
        }
        w.u32(strings[node.loc.file])
        w.u32(UInt32(node.loc.line))
        w.u32(UInt32(node.loc.column))
        w.u32(strings[node.scope])
        if !node.absorbed.isEmpty {
          w.u32(UInt32(node.absorbed.count))
          for loc in node.absorbed {
            w.u32(strings[loc.file])
            w.u32(UInt32(loc.line))
            w.u32(UInt32(loc.column))
            w.u8(loc.inferred ? 1 : 0)
          }
        }
        if let slot = node.slot {
          w.u64(UInt64(slot.offset))
          w.u64(UInt64(slot.size))
          if let buffer = slot.buffer { w.u32(strings[buffer]) }
        }
      }
    }
    return w.bytes
  }

  private static func outputs(_ graph: Graph, _ strings: inout StringTable) -> [UInt8] {
    var w = ByteWriter()
    w.u32(UInt32(graph.programs.count))
    for program in graph.programs {
      w.u32(UInt32(program.outputs.count))
      for output in program.outputs {
        w.u32(strings[output.name])
        w.u32(UInt32(output.value.index))
      }
    }
    return w.bytes
  }

  private static func arenas(_ graph: Graph) -> [UInt8] {
    var w = ByteWriter()
    w.u32(UInt32(graph.programs.count))
    for program in graph.programs { w.u64(UInt64(program.arenaBytes ?? 0)) }
    return w.bytes
  }

  private static func buffers(_ graph: Graph, _ strings: inout StringTable) -> [UInt8] {
    let layout = PersistentLayout(graph)
    let buffers = graph.buffers()
    var w = ByteWriter()
    w.u32(UInt32(buffers.count))
    for buffer in buffers {
      let entry = layout.entries[buffer.name]!
      w.u32(strings[buffer.name])
      w.u32(strings[buffer.region])
      w.u8(PlanFormat.code(buffer.type.dtype))
      w.u8(UInt8(buffer.type.rank))
      w.u8(buffer.trainable ? 1 : 0)
      w.u8(0)
      for dim in buffer.type.shape { w.i64(Int64(dim)) }
      w.u32(strings[buffer.initSpec])
      w.u64(UInt64(entry.offset))
      w.u64(UInt64(entry.bytes))
    }
    w.u32(UInt32(layout.regions.count))
    for region in layout.regions {
      w.u32(strings[region])
      w.u64(UInt64(layout.regionBytes[region] ?? 0))
    }
    return w.bytes
  }

  private static func hyper(_ graph: Graph, _ strings: inout StringTable) -> [UInt8] {
    var w = ByteWriter()
    w.u32(UInt32(graph.hyper.count))
    for key in graph.hyper.keys.sorted() {
      w.u32(strings[key])
      w.f64(graph.hyper[key]!)
    }
    return w.bytes
  }

  private static func metadata(_ graph: Graph, _ strings: inout StringTable) -> [UInt8] {
    var w = ByteWriter()
    w.u32(strings[graph.stage])
    w.u32(UInt32(graph.metadata.count))
    for key in graph.metadata.keys.sorted() {
      w.u32(strings[key])
      w.u32(strings[graph.metadata[key]!])
    }
    return w.bytes
  }
}

/// The interned strings of a plan, numbered in order of first use.
private struct StringTable {
  var index: [String: UInt32] = [:]
  var list: [String] = []

  /// The index of `s`, interning it on first use.
  subscript(s: String) -> UInt32 {
    mutating get {
      if let i = index[s] { return i }
      let i = UInt32(list.count)
      index[s] = i
      list.append(s)
      return i
    }
  }

  /// The strings section.
  func encoded() -> [UInt8] {
    var w = ByteWriter()
    w.u32(UInt32(list.count))
    for s in list {
      let utf8 = Array(s.utf8)
      w.u32(UInt32(utf8.count))
      w.bytes += utf8
    }
    return w.bytes
  }
}

/// A compile error on one line: `message at file:line:col (note; note)`.
func oneLine(_ error: CompileError) -> String {
  var text = error.message
  if error.loc != .unknown { text += " at \(error.loc)" }
  if !error.notes.isEmpty { text += " (\(error.notes.joined(separator: "; ")))" }
  return text
}
