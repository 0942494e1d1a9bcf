import DinoIR
import Foundation

/// Loads plan.bin files, trusting nothing in them (IR/PLAN_FORMAT.md).
///
/// In order: magic, format version (newer versions are refused by name), byte order, section
/// count, header checksum, op-table fingerprint, alignment, file size, section table (kinds,
/// reserved fields, contiguous extents inside the file, per-section checksums); then each
/// section is parsed with every count, index, code, rank, dimension and size bounds-checked
/// before use; finally the graph must pass `Verifier.verify`, every program's memory plan
/// must be sound (`memoryProblems`), and the buffer table must match the programs and
/// `PersistentLayout`. Any failure is one `PlanError`; no input can trap.
public enum PlanReader {
  /// The largest file `read(contentsOf:)` accepts.
  public static let maximumFileBytes = 1 << 30

  /// Decodes a plan.
  /// - Parameter bytes: the file's bytes.
  /// - Returns: the planned graph, verified.
  /// - Throws: `PlanError` naming the first problem.
  public static func decode(_ bytes: [UInt8]) throws(PlanError) -> Graph {
    let extents = try header(bytes)
    var strings = ByteReader(bytes, section: "strings", range: extents[0])
    var parser = SectionParser(strings: try readStrings(&strings))
    var graph = Graph()
    var programs = ByteReader(bytes, section: "programs", range: extents[1])
    graph.programs = try parser.programs(&programs)
    var outputs = ByteReader(bytes, section: "outputs", range: extents[2])
    try parser.outputs(&outputs, into: &graph)
    var arenas = ByteReader(bytes, section: "arenas", range: extents[3])
    try parser.arenas(&arenas, into: &graph)
    var buffers = ByteReader(bytes, section: "buffers", range: extents[4])
    let table = try parser.buffers(&buffers)
    var hyper = ByteReader(bytes, section: "hyper", range: extents[5])
    graph.hyper = try parser.hyper(&hyper)
    var metadata = ByteReader(bytes, section: "metadata", range: extents[6])
    (graph.stage, graph.metadata) = try parser.metadata(&metadata)
    try validate(graph, bufferTable: table)
    return graph
  }

  /// Reads and decodes the plan at `path`.
  /// - Parameter path: the file.
  /// - Returns: the planned graph, verified.
  /// - Throws: `PlanError` naming `path` and the first problem.
  public static func read(contentsOf path: String) throws(PlanError) -> Graph {
    let bytes: [UInt8]
    var info = stat()
    if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {  // FIFOs block, devices never end
      throw PlanError(
        "is not a regular file", hint: "pass the plan.bin written by `dinoc compile`", file: path)
    }
    do {
      guard let handle = FileHandle(forReadingAtPath: path) else {
        throw PlanError("cannot open the file", hint: "check the path", file: path)
      }
      defer { try? handle.close() }
      let data = try handle.read(upToCount: maximumFileBytes + 1) ?? Data()
      if data.count > maximumFileBytes {
        throw PlanError(
          "is larger than \(maximumFileBytes) bytes, far beyond any plan",
          hint: "pass the plan.bin written by `dinoc compile`", file: path)
      }
      bytes = [UInt8](data)
    } catch let error as PlanError {
      throw error
    } catch {
      throw PlanError(
        "cannot read: \(error.localizedDescription)", hint: "check the path and its permissions",
        file: path)
    }
    do {
      return try decode(bytes)
    } catch {
      var e = error
      e.file = path
      throw e
    }
  }

  // MARK: - Header and section table

  /// Checks the header and section table; returns the sections' byte ranges in kind order.
  private static func header(_ bytes: [UInt8]) throws(PlanError) -> [Range<Int>] {
    let notAPlan = "pass the plan.bin written by `dinoc compile`"
    guard bytes.count >= 8, Array(bytes[0..<8]) == PlanFormat.magic else {
      throw PlanError(
        bytes.isEmpty
          ? "the file is empty, not a plan" : "not a plan: it does not start with \"DINOPLAN\"",
        hint: notAPlan)
    }
    guard bytes.count >= PlanFormat.headerSize else {
      throw PlanError(
        "truncated: \(bytes.count) bytes, the header alone needs \(PlanFormat.headerSize)")
    }
    var h = ByteReader(bytes, section: "header", range: 8..<PlanFormat.headerSize)
    let version = try h.u32("format version")
    if version > PlanFormat.version {
      throw PlanError(
        "format version \(version) is newer than this reader (\(PlanFormat.version))",
        hint: PlanError.rebuildHint)
    }
    if version == 0 { throw PlanError("format version 0 does not exist (the header is damaged)") }
    let mark = try h.u32("byte-order mark")
    if mark != PlanFormat.byteOrderMark {
      throw PlanError(
        "bad byte-order mark 0x\(String(mark, radix: 16)) (expected little-endian 0x1020304)")
    }
    let fingerprint = try h.u64("op table fingerprint")
    let opCount = try h.u32("op count")
    let alignment = try h.u32("alignment")
    let fileSize = try h.u64("file size")
    let sectionCount = try h.u32("section count")
    let storedCRC = try h.u32("header checksum")
    let sections = PlanFormat.Section.allCases
    guard sectionCount == sections.count else {
      throw PlanError(
        "the header lists \(sectionCount) sections; format version 1 has \(sections.count)")
    }
    let tableEnd = PlanFormat.headerSize + PlanFormat.sectionEntrySize * sections.count
    guard bytes.count >= tableEnd else {
      throw PlanError(
        "truncated: \(bytes.count) bytes, the header and section table need \(tableEnd)")
    }
    let crc = PlanFormat.crc32(
      bytes, PlanFormat.headerSize..<tableEnd, seed: PlanFormat.crc32(bytes, 0..<44))
    if crc != storedCRC {
      throw PlanError(
        "the header checksum does not match (stored 0x\(hex32(storedCRC)), computed 0x\(hex32(crc)))"
      )
    }
    if fingerprint != PlanFormat.opTableFingerprint || opCount != UInt32(OpKind.allOps.count) {
      throw PlanError(
        "mismatched op table: the plan was compiled against an IR/ops.def with fingerprint 0x\(String(fingerprint, radix: 16)) (\(opCount) ops), this reader has 0x\(String(PlanFormat.opTableFingerprint, radix: 16)) (\(OpKind.allOps.count) ops)",
        hint: PlanError.rebuildHint)
    }
    if alignment != UInt32(arenaAlignment) {
      throw PlanError("alignment \(alignment) in the header, this reader needs \(arenaAlignment)")
    }
    if fileSize != UInt64(bytes.count) {
      let what = fileSize > UInt64(bytes.count) ? "truncated" : "has trailing bytes"
      throw PlanError("\(what): the header says \(fileSize) bytes, the file has \(bytes.count)")
    }
    var table = ByteReader(bytes, section: "section table", range: PlanFormat.headerSize..<tableEnd)
    var extents: [Range<Int>] = []
    var expectedOffset = tableEnd
    for section in sections {
      let entryStart = table.position
      let kind = try table.u32("section kind")
      let reserved = try table.u32("reserved")
      let offset = try table.u64("section offset")
      let length = try table.u64("section length")
      let sectionCRC = try table.u32("section checksum")
      let reserved2 = try table.u32("reserved")
      guard kind == section.rawValue else {
        throw table.error(
          "entry \(extents.count) has kind \(kind), expected \(section.rawValue) (\(section.name))",
          at: entryStart)
      }
      guard reserved == 0 && reserved2 == 0 else {
        throw table.error(
          "the reserved fields of section '\(section.name)' are not zero", at: entryStart)
      }
      guard offset == UInt64(expectedOffset), length <= UInt64(bytes.count - expectedOffset) else {
        throw table.error(
          "section '\(section.name)' claims bytes [\(offset), \(offset) + \(length)); it must start at \(expectedOffset) and end by \(bytes.count)",
          at: entryStart)
      }
      let range = expectedOffset..<expectedOffset + Int(length)
      let actual = PlanFormat.crc32(bytes, range)
      if actual != sectionCRC {
        throw PlanError(
          "section '\(section.name)' (bytes \(range.lowerBound)..<\(range.upperBound)) fails its checksum (stored 0x\(hex32(sectionCRC)), computed 0x\(hex32(actual)))"
        )
      }
      extents.append(range)
      expectedOffset = range.upperBound
    }
    if expectedOffset != bytes.count {
      throw PlanError(
        "the sections end at byte \(expectedOffset) but the file has \(bytes.count) bytes")
    }
    return extents
  }

  /// The string table.
  private static func readStrings(_ r: inout ByteReader) throws(PlanError) -> [String] {
    let count = try r.count("string count", minimumBytes: 4)
    var strings: [String] = []
    for i in 0..<count {
      let start = r.position
      let length = Int(try r.u32("length of string \(i)"))
      let utf8 = try r.raw(length, "string \(i)")
      guard let s = String(validating: utf8, as: UTF8.self) else {
        throw r.error("string \(i) is not valid UTF-8", at: start)
      }
      strings.append(s)
    }
    try r.finish()
    return strings
  }

  // MARK: - Whole-graph checks

  /// The verifier, the memory proof, and the buffer table against the programs.
  private static func validate(_ graph: Graph, bufferTable: BufferTable) throws(PlanError) {
    do {
      try Verifier.verify(graph)
    } catch {
      throw PlanError("invalid program: \(oneLine(error))")
    }
    for program in graph.programs {
      if let problem = memoryProblems(program).first {
        throw PlanError("unsound memory plan: \(problem)")
      }
    }
    let buffers = graph.buffers()
    let layout = PersistentLayout(graph)
    guard buffers.count == bufferTable.records.count else {
      throw PlanError(
        "the buffer table lists \(bufferTable.records.count) buffers but the programs use \(buffers.count)"
      )
    }
    for (buffer, record) in zip(buffers, bufferTable.records) {
      let entry = layout.entries[buffer.name]
      guard
        record.name == buffer.name && record.type == buffer.type
          && record.initSpec == buffer.initSpec
          && record.trainable == buffer.trainable && record.region == buffer.region
          && record.offset == entry?.offset && record.bytes == entry?.bytes
      else {
        throw PlanError(
          "buffer table entry '\(record.name)' (\(record.type), region \(record.region) +\(record.offset)) disagrees with the programs' buffer '\(buffer.name)' (\(buffer.type), region \(buffer.region) +\(entry?.offset ?? -1))"
        )
      }
    }
    let regions = bufferTable.regions
    guard regions.map(\.name) == layout.regions,
      regions.allSatisfy({ layout.regionBytes[$0.name] == $0.bytes })
    else {
      throw PlanError("the region table disagrees with the layout of the buffers")
    }
  }

  private static func hex32(_ v: UInt32) -> String {
    let digits = String(v, radix: 16, uppercase: true)
    return String(repeating: "0", count: max(0, 8 - digits.count)) + digits
  }
}
