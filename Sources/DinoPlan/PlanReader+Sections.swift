import DinoIR

/// One row of the buffers section.
struct BufferRecord {
  var name: String
  var region: String
  var type: TensorType
  var trainable: Bool
  var initSpec: String
  var offset: Int
  var bytes: Int
}

/// The buffers section: the buffers and the regions' sizes.
struct BufferTable {
  var records: [BufferRecord]
  var regions: [(name: String, bytes: Int)]
}

/// Parses the sections after the string table; every index, count and code is checked
/// against what the file can hold before it is used.
struct SectionParser {
  /// The string table.
  let strings: [String]

  /// The largest element count of a tensor (2⁴⁰, as the verifier), and of any size field.
  static let sizeLimit = 1 << 40
  /// The largest arena or region size.
  static let arenaLimit = 1 << 48

  /// Reads a string index and returns the string.
  func string(_ r: inout ByteReader, _ what: @autoclosure () -> String) throws(PlanError) -> String
  {
    let start = r.position
    let index = Int(try r.u32(what()))
    guard index < strings.count else {
      throw r.error("\(what()) names string \(index) but the table has \(strings.count)", at: start)
    }
    return strings[index]
  }

  /// Reads a dtype code, a rank and the dimensions.
  func type(
    _ r: inout ByteReader, dtype code: UInt8, rank: UInt8, _ what: @autoclosure () -> String
  ) throws(PlanError) -> TensorType {
    let start = r.position
    guard let dtype = PlanFormat.dtype(code) else {
      throw r.error("\(what()) has unknown dtype code \(code)", at: start)
    }
    guard Int(rank) <= PlanFormat.maxRank else {
      throw r.error("\(what()) has rank \(rank), more than \(PlanFormat.maxRank)", at: start)
    }
    var shape: [Int] = []
    var count = 1
    for axis in 0..<Int(rank) {
      let dim = try r.i64("dimension \(axis) of \(what())")
      guard dim >= 0 && dim < Int64(Self.sizeLimit) else {
        throw r.error("\(what()) has dimension \(dim) (must be 0..<2^40)")
      }
      let (product, overflow) = count.multipliedReportingOverflow(by: Int(dim))
      if overflow || product >= Self.sizeLimit {
        throw r.error("\(what()) has 2^40 or more elements")
      }
      count = product
      shape.append(Int(dim))
    }
    return TensorType(dtype, shape)
  }

  /// The programs section.
  mutating func programs(_ r: inout ByteReader) throws(PlanError) -> [Program] {
    var programs: [Program] = []
    let count = try r.count("program count", minimumBytes: 8)
    for _ in 0..<count {
      var program = Program(name: try string(&r, "program name"))
      let nodeCount = try r.count("node count of @\(program.name)", minimumBytes: 24)
      for index in 0..<nodeCount {
        program.nodes.append(try node(&r, index: index, program: program.name))
      }
      programs.append(program)
    }
    try r.finish()
    return programs
  }

  /// One node.
  private func node(_ r: inout ByteReader, index: Int, program: String) throws(PlanError) -> Node {
    func what() -> String { "%\(index) of @\(program)" }
    let start = r.position
    let code = Int(try r.u16("op code of \(what())"))
    guard code < OpKind.allOps.count else {
      throw r.error(
        "\(what()) has op code \(code), but the op table has \(OpKind.allOps.count) ops", at: start)
    }
    let op = OpKind.allOps[code]
    let flags = try r.u8("flags of \(what())")
    guard flags & ~31 == 0, flags & 16 == 0 || flags & 2 != 0 else {
      throw r.error("\(what()) has unknown flag bits 0x\(String(flags, radix: 16))")
    }
    let attrCount = Int(try r.u8("attribute count of \(what())"))
    let operandCount = Int(try r.u16("operand count of \(what())"))
    let dtype = try r.u8("dtype of \(what())")
    let rank = try r.u8("rank of \(what())")
    let type = try type(&r, dtype: dtype, rank: rank, what())
    guard operandCount <= r.remaining / 4 else {
      throw r.error("\(what()) claims \(operandCount) operands, more than the section holds")
    }
    var operands: [ValueID] = []
    for k in 0..<operandCount {
      let at = r.position
      let operand = Int(try r.u32("operand \(k) of \(what())"))
      guard operand < index else {
        throw r.error("operand \(k) of \(what()) is %\(operand), not defined before it", at: at)
      }
      operands.append(ValueID(operand))
    }
    var attrs: Attributes = [:]
    for _ in 0..<attrCount {
      let at = r.position
      let key = try string(&r, "attribute name of \(what())")
      let kindByte = try r.u8("attribute kind of \(what())")
      guard let kind = AttrKind(rawValue: Character(Unicode.Scalar(kindByte))) else {
        throw r.error(
          "attribute '\(key)' of \(what()) has unknown kind byte 0x\(String(kindByte, radix: 16))",
          at: at)
      }
      let value: Attr
      switch kind {
      case .int: value = .int(Int(try r.i64("attribute '\(key)'")))
      case .float:
        let v = try r.f64("attribute '\(key)'")
        guard v.isFinite else {
          throw r.error("attribute '\(key)' of \(what()) is \(v), not a finite number", at: at)
        }
        value = .float(v)
      case .string: value = .string(try string(&r, "attribute '\(key)'"))
      case .ints:
        let n = try r.count("length of attribute '\(key)'", minimumBytes: 8)
        var list: [Int] = []
        for _ in 0..<n { list.append(Int(try r.i64("attribute '\(key)'"))) }
        value = .ints(list)
      case .floats:
        let n = try r.count("length of attribute '\(key)'", minimumBytes: 4)
        var list: [Float] = []
        list.reserveCapacity(n)
        for _ in 0..<n { list.append(try r.f32("attribute '\(key)'")) }
        value = .floats(list)
      }
      guard attrs.updateValue(value, forKey: key) == nil else {
        throw r.error("\(what()) repeats attribute '\(key)'", at: at)
      }
    }
    let file = try string(&r, "location file of \(what())")
    let line = Int(try r.u32("location line of \(what())"))
    let column = Int(try r.u32("location column of \(what())"))
    let scope = try string(&r, "scope of \(what())")
    var absorbed: [SourceLoc] = []
    if flags & 8 != 0 {
      let count = Int(try r.u32("absorbed location count of \(what())"))
      guard (1...PlanFormat.maxAbsorbed).contains(count) else {
        throw r.error("\(what()) has \(count) absorbed locations (1...\(PlanFormat.maxAbsorbed))")
      }
      for _ in 0..<count {
        let file = try string(&r, "absorbed location file of \(what())")
        let line = Int(try r.u32("absorbed location line of \(what())"))
        let column = Int(try r.u32("absorbed location column of \(what())"))
        let inferred = try r.u8("absorbed location flag of \(what())")
        guard inferred <= 1 else { throw r.error("\(what()) has a bad absorbed location flag") }
        absorbed.append(SourceLoc(file: file, line: line, column: column, inferred: inferred == 1))
      }
    }
    var slot: MemorySlot?
    if flags & 2 != 0 {
      let offset = try r.size("slot offset of \(what())", limit: Self.arenaLimit)
      let size = try r.size("slot size of \(what())", limit: Self.arenaLimit)
      let buffer = flags & 16 != 0 ? try string(&r, "slot buffer of \(what())") : nil
      slot = MemorySlot(offset: offset, size: size, buffer: buffer)
    }
    return Node(
      op, operands, attrs: attrs, type: type,
      loc: SourceLoc(file: file, line: line, column: column, inferred: flags & 4 != 0),
      absorbed: absorbed, scope: scope, isBackward: flags & 1 != 0, slot: slot)
  }

  /// The outputs section, into the programs already read.
  func outputs(_ r: inout ByteReader, into graph: inout Graph) throws(PlanError) {
    let count = Int(try r.u32("program count"))
    guard count == graph.programs.count else {
      throw r.error("lists outputs for \(count) programs, the plan has \(graph.programs.count)")
    }
    for p in graph.programs.indices {
      let name = graph.programs[p].name
      let n = try r.count("output count of @\(name)", minimumBytes: 8)
      for _ in 0..<n {
        let outputName = try string(&r, "output name of @\(name)")
        let at = r.position
        let value = Int(try r.u32("output '\(outputName)'"))
        guard value < graph.programs[p].nodes.count else {
          throw r.error(
            "output '\(outputName)' of @\(name) names %\(value), which is not defined", at: at)
        }
        graph.programs[p].outputs.append(ProgramOutput(name: outputName, value: ValueID(value)))
      }
    }
    try r.finish()
  }

  /// The arenas section, into the programs already read.
  func arenas(_ r: inout ByteReader, into graph: inout Graph) throws(PlanError) {
    let count = Int(try r.u32("program count"))
    guard count == graph.programs.count else {
      throw r.error("lists arenas for \(count) programs, the plan has \(graph.programs.count)")
    }
    for p in graph.programs.indices {
      graph.programs[p].arenaBytes = try r.size(
        "arena of @\(graph.programs[p].name)", limit: Self.arenaLimit)
    }
    try r.finish()
  }

  /// The buffers section.
  func buffers(_ r: inout ByteReader) throws(PlanError) -> BufferTable {
    var table = BufferTable(records: [], regions: [])
    let count = try r.count("buffer count", minimumBytes: 32)
    for i in 0..<count {
      let name = try string(&r, "name of buffer \(i)")
      let region = try string(&r, "region of buffer '\(name)'")
      let dtype = try r.u8("dtype of buffer '\(name)'")
      let rank = try r.u8("rank of buffer '\(name)'")
      let at = r.position
      let trainable = try r.u8("trainable flag of buffer '\(name)'")
      let reserved = try r.u8("reserved byte of buffer '\(name)'")
      guard trainable <= 1, reserved == 0 else {
        throw r.error(
          "buffer '\(name)' has trainable flag \(trainable) and reserved byte \(reserved)", at: at)
      }
      let type = try type(&r, dtype: dtype, rank: rank, "buffer '\(name)'")
      let initSpec = try string(&r, "init of buffer '\(name)'")
      let offset = try r.size("offset of buffer '\(name)'", limit: Self.arenaLimit)
      let bytes = try r.size("size of buffer '\(name)'", limit: Self.arenaLimit)
      table.records.append(
        BufferRecord(
          name: name, region: region, type: type, trainable: trainable == 1, initSpec: initSpec,
          offset: offset, bytes: bytes))
    }
    let regionCount = try r.count("region count", minimumBytes: 12)
    for _ in 0..<regionCount {
      let name = try string(&r, "region name")
      table.regions.append((name, try r.size("size of region '\(name)'", limit: Self.arenaLimit)))
    }
    try r.finish()
    return table
  }

  /// The hyper section.
  func hyper(_ r: inout ByteReader) throws(PlanError) -> [String: Double] {
    var hyper: [String: Double] = [:]
    var previous: String?
    let count = try r.count("hyper-parameter count", minimumBytes: 12)
    for _ in 0..<count {
      let at = r.position
      let key = try string(&r, "hyper-parameter name")
      if let previous, !(previous < key) {
        throw r.error("hyper-parameter '\(key)' is out of order or repeated", at: at)
      }
      previous = key
      let value = try r.f64("hyper-parameter '\(key)'")
      guard value.isFinite else {
        throw r.error("hyper-parameter '\(key)' is \(value), not a finite number", at: at)
      }
      hyper[key] = value
    }
    try r.finish()
    return hyper
  }

  /// The metadata section: the stage, then key-value pairs.
  func metadata(_ r: inout ByteReader) throws(PlanError) -> (String, [String: String]) {
    let stage = try string(&r, "stage")
    var metadata: [String: String] = [:]
    var previous: String?
    let count = try r.count("metadata count", minimumBytes: 8)
    for _ in 0..<count {
      let at = r.position
      let key = try string(&r, "metadata key")
      if let previous, !(previous < key) {
        throw r.error("metadata key '\(key)' is out of order or repeated", at: at)
      }
      previous = key
      metadata[key] = try string(&r, "metadata '\(key)'")
    }
    try r.finish()
    return (stage, metadata)
  }
}
