/// Reads the text form `printIR` writes (IR/GRAMMAR.md) back into a graph.
///
/// The parser checks syntax only: a graph that parses may still fail `Verifier.verify`
/// (an undefined operand, a wrong arity), so broken graphs can be written as text in tests.
/// - Parameters:
///   - text: the IR text.
///   - fileName: the name errors report, e.g. `mlp.ir`.
/// - Throws: `CompileError` located at `fileName:line:column` of the first syntax error.
public func parseIR(_ text: String, fileName: String = "<ir>") throws(CompileError) -> Graph {
  var parser = IRParser(text: text, fileName: fileName)
  return try parser.parseGraph()
}

/// A line-by-line recursive-descent parser over `tokenizeIRLine` tokens.
struct IRParser {
  let fileName: String
  let lines: [[Unicode.Scalar]]
  /// 0-based index of the current line.
  var lineIndex = -1
  var tokens: [IRToken] = []
  var pos = 0
  /// The file that locations without a file name refer to.
  var mainFile: String?

  init(text: String, fileName: String) {
    self.fileName = fileName
    self.lines = text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
      .map(Array.init)
  }

  // MARK: - Graph

  mutating func parseGraph() throws(CompileError) -> Graph {
    var graph = Graph()
    try parseHeader(&graph)
    while try nextLine() {
      let head = peek
      guard head.kind == .word else { throw error("expected 'program', got \(head.quoted)", head) }
      switch head.text {
      case "file" where graph.programs.isEmpty:
        advance()
        if mainFile != nil { throw error("duplicate 'file' line", head) }
        mainFile = try string("a file name")
      case "meta" where graph.programs.isEmpty:
        advance()
        let key = try keyEquals(graph.metadata.keys.contains, "meta key")
        graph.metadata[key] = try string("a string value")
      case "hyper" where graph.programs.isEmpty:
        advance()
        let key = try keyEquals(graph.hyper.keys.contains, "hyper key")
        let token = advance()
        guard isNumeric(token), let value = Double(token.text) else {
          throw error("expected a number, got \(token.quoted)", token)
        }
        graph.hyper[key] = value
      case "program":
        graph.programs.append(try parseProgram())
        continue
      default:
        let expected = graph.programs.isEmpty ? "'file', 'meta', 'hyper' or 'program'" : "'program'"
        throw error("expected \(expected), got \(head.quoted)", head)
      }
      try expectEnd()
    }
    return graph
  }

  /// `#dino-ir v1 stage=NAME`.
  private mutating func parseHeader(_ graph: inout Graph) throws(CompileError) {
    let magic = Array((IRText.magic + " ").unicodeScalars)
    guard let first = lines.first, first.starts(with: magic) else {
      throw CompileError(
        "expected the header '\(IRText.magic) \(IRText.version) stage=…'",
        at: SourceLoc(file: fileName, line: 1, column: 1))
    }
    lineIndex = 0
    tokens = try tokenizeIRLine(first, from: magic.count, line: 1, fileName: fileName)
    pos = 0
    let version = advance()
    guard version.kind == .word, version.text == IRText.version else {
      throw error(
        "unsupported IR version \(version.quoted) (this parser reads \(IRText.version))", version)
    }
    try expectWord("stage")
    try expect("=")
    graph.stage = try name("a stage name")
    try expectEnd()
  }

  // MARK: - Program

  private mutating func parseProgram() throws(CompileError) -> Program {
    advance()
    try expect("@")
    var program = Program(name: try name("a program name"))
    try expect("{")
    try expectEnd()
    let opening = lineIndex
    var scope = ""
    var refs: [(node: Int, key: String, ref: Int, at: IRToken, line: Int)] = []
    var dataLines: [Int] = []
    var returned = false
    while true {
      guard try nextLine() else {
        throw CompileError(
          "missing '}' closing program @\(program.name) (opened on line \(opening + 1))",
          at: SourceLoc(file: fileName, line: lines.count, column: 1))
      }
      let head = peek
      if head.kind == .punct && head.text == "}" {
        advance()
        try expectEnd()
        guard returned else { throw error("expected 'return' before '}'", head) }
        break
      }
      switch (head.kind, head.text, returned) {
      case (.punct, "%", false):
        let (node, nodeRefs) = try parseNode(index: program.nodes.count, scope: scope)
        for (key, ref, at) in nodeRefs {
          refs.append((program.nodes.count, key, ref, at, lineIndex))
        }
        program.nodes.append(node)
      case (.word, "scope", false):
        advance()
        scope = try name("a scope name")
      case (.word, "return", false):
        advance()
        program.outputs = try parseOutputs()
        returned = true
      case (.word, "arena", true) where program.arenaBytes == nil && dataLines.isEmpty:
        advance()
        program.arenaBytes = try parseSize()
      case (.word, "data", true):
        dataLines.append(lineIndex)
        try parseData(number: dataLines.count - 1, into: &program, refs: refs)
        continue
      default:
        let expected =
          returned ? "'arena', 'data' or '}'" : "'%\(program.nodes.count)', 'scope' or 'return'"
        throw error("expected \(expected), got \(head.quoted)", head)
      }
      try expectEnd()
    }
    var used = Set<Int>()
    for r in refs {
      guard r.ref < dataLines.count else {
        throw CompileError(
          "undefined data #\(r.ref)",
          at: SourceLoc(file: fileName, line: r.line + 1, column: r.at.column))
      }
      if !used.insert(r.ref).inserted {
        throw CompileError(
          "data #\(r.ref) is used twice",
          at: SourceLoc(file: fileName, line: r.line + 1, column: r.at.column))
      }
    }
    for (k, line) in dataLines.enumerated() where !used.contains(k) {
      throw CompileError(
        "data #\(k) is never used", at: SourceLoc(file: fileName, line: line + 1, column: 3))
    }
    return program
  }

  /// `%N = op(%a, %b) {k=v} : f32[…] [arena+0x… nB h] @ ~"f":l:c bw`.
  private mutating func parseNode(index: Int, scope: String) throws(CompileError)
    -> (Node, [(String, Int, IRToken)])
  {
    advance()
    let number = advance()
    guard number.kind == .number, Int(number.text) == index else {
      throw error("expected %\(index) (values are numbered densely), got %\(number.text)", number)
    }
    try expect("=")
    let opToken = advance()
    guard opToken.kind == .word, let op = OpKind(name: opToken.text) else {
      throw error("unknown op \(opToken.quoted)", opToken)
    }
    var node = Node(op, type: .scalar, scope: scope)
    if isPunct("(") {
      advance()
      repeat {
        try expect("%")
        node.operands.append(ValueID(try int("a value number")))
      } while try comma()
      try expect(")")
    }
    var refs: [(String, Int, IRToken)] = []
    if isPunct("{") {
      advance()
      repeat {
        let key = try keyEquals(node.attrs.keys.contains, "attribute")
        if isPunct("#") {
          let hash = advance()
          refs.append((key, try int("a data number"), hash))
          node.attrs[key] = .floats([])
        } else {
          node.attrs[key] = try attrValue(op: op, key: key)
        }
      } while try comma()
      try expect("}")
    }
    try expect(":")
    node.type = try parseType()
    if isPunct("[") {
      advance()
      if peek.kind == .word && peek.text == "buffer" {
        advance()
        guard peek.kind == .string else {
          throw error("expected a quoted buffer name, got \(peek.quoted)", peek)
        }
        let buffer = advance().text
        node.slot = MemorySlot(offset: 0, size: try parseSize(), buffer: buffer)
      } else {
        try expectWord("arena")
        try expect("+")
        let offsetToken = advance()
        guard offsetToken.text.hasPrefix("0x"),
          let offset = Int(offsetToken.text.dropFirst(2), radix: 16)
        else {
          throw error(
            "expected a hex offset like 0x00000040, got \(offsetToken.quoted)", offsetToken)
        }
        node.slot = MemorySlot(offset: offset, size: try parseSize())
      }
      try expect("]")
    }
    if isPunct("@") {
      advance()
      node.loc = try parseLoc()
      while isPunct("+") {
        advance()
        node.absorbed.append(try parseLoc())
      }
    }
    if peek.kind == .word && peek.text == "bw" {
      advance()
      node.isBackward = true
    }
    return (node, refs)
  }

  /// `123B 123B` or `1258304B 1.2MiB`: exact bytes, then the rounded size they must match.
  private mutating func parseSize() throws(CompileError) -> Int {
    let bytes = try int("a byte count")
    try expectWord("B")
    let number = advance()
    let unit = advance()
    guard number.kind == .number, unit.kind == .word, number.text + unit.text == byteText(bytes)
    else {
      throw error("size does not match \(bytes) bytes (expected \(byteText(bytes)))", number)
    }
    return bytes
  }

  /// `f32[2,3]`, `i32[]`.
  private mutating func parseType() throws(CompileError) -> TensorType {
    let token = advance()
    guard token.kind == .word, let dtype = DType(rawValue: token.text) else {
      throw error("expected an element type (f32, i32), got \(token.quoted)", token)
    }
    try expect("[")
    var shape: [Int] = []
    if !isPunct("]") {
      repeat {
        let dim = peek
        shape.append(try int("a dimension"))
        if shape.last! < 0 { throw error("negative dimension \(dim.text)", dim) }
      } while try comma()
    }
    try expect("]")
    return TensorType(dtype, shape)
  }

  /// `:58:31`, `~:58:31`, `"other.swift":3:9`.
  private mutating func parseLoc() throws(CompileError) -> SourceLoc {
    let inferred = isPunct("~")
    if inferred { advance() }
    var file: String
    if peek.kind == .string {
      file = advance().text
    } else {
      guard let mainFile else {
        throw error("a location without a file needs a 'file \"…\"' line after the header", peek)
      }
      file = mainFile
    }
    try expect(":")
    let line = try int("a line number")
    try expect(":")
    return SourceLoc(file: file, line: line, column: try int("a column number"), inferred: inferred)
  }

  /// `loss=%5, y=%6` (possibly empty).
  private mutating func parseOutputs() throws(CompileError) -> [ProgramOutput] {
    var outputs: [ProgramOutput] = []
    if peek.kind == .end { return outputs }
    repeat {
      let outputName = try name("an output name")
      try expect("=")
      try expect("%")
      outputs.append(ProgramOutput(name: outputName, value: ValueID(try int("a value number"))))
    } while try comma()
    return outputs
  }

  /// `data #k = [`, lines of comma-separated floats, then a line `]`.
  private mutating func parseData(
    number: Int, into program: inout Program,
    refs: [(node: Int, key: String, ref: Int, at: IRToken, line: Int)]
  ) throws(CompileError) {
    advance()
    try expect("#")
    let numberToken = peek
    guard try int("a data number") == number else {
      throw error("expected data #\(number) (data blocks are numbered densely)", numberToken)
    }
    try expect("=")
    try expect("[")
    try expectEnd()
    let opening = lineIndex
    var values: [Float] = []
    var needValue = true
    while true {
      guard try nextLine() else {
        throw CompileError(
          "missing ']' closing data #\(number) (opened on line \(opening + 1))",
          at: SourceLoc(file: fileName, line: lines.count, column: 1))
      }
      if isPunct("]") {
        if needValue && !values.isEmpty { throw error("expected a float after ','", peek) }
        advance()
        try expectEnd()
        break
      }
      while peek.kind != .end {
        if needValue {
          values.append(try float())
        } else {
          try expect(",")
        }
        needValue.toggle()
      }
    }
    for r in refs where r.ref == number { program.nodes[r.node].attrs[r.key] = .floats(values) }
  }

  // MARK: - Values

  /// An attribute value: int, float, string or list. An empty list takes the kind the op's
  /// schema gives `key` (ints when the key is unknown).
  private mutating func attrValue(op: OpKind, key: String) throws(CompileError) -> Attr {
    let token = peek
    if token.kind == .string { return .string(advance().text) }
    if isPunct("[") {
      advance()
      var items: [IRToken] = []
      if !isPunct("]") {
        repeat {
          let item = advance()
          guard isNumeric(item) else { throw error("expected a number, got \(item.quoted)", item) }
          items.append(item)
        } while try comma()
      }
      try expect("]")
      let floats = items.filter { isFloat($0) }.count
      if floats != 0 && floats != items.count {
        throw error("list mixes integers and floats (write floats with a '.')", token)
      }
      let schemaKind = op.attrSchema.first { $0.name == key }?.kind
      if floats > 0 || (items.isEmpty && schemaKind == .floats) {
        var values: [Float] = []
        for item in items { values.append(try floatValue(item)) }
        return .floats(values)
      }
      var values: [Int] = []
      for item in items { values.append(try intValue(item)) }
      return .ints(values)
    }
    guard isNumeric(token) else {
      throw error("expected an attribute value, got \(token.quoted)", token)
    }
    advance()
    if isFloat(token) {
      guard let value = Double(token.text) else { throw error("bad float \(token.quoted)", token) }
      return .float(value)
    }
    return .int(try intValue(token))
  }

  private func isNumeric(_ t: IRToken) -> Bool {
    t.kind == .number || (t.kind == .word && (t.text == "inf" || t.text == "nan"))
  }

  private func isFloat(_ t: IRToken) -> Bool { t.kind == .word || t.isFloatNumber }

  private func floatValue(_ t: IRToken) throws(CompileError) -> Float {
    guard isNumeric(t), let value = Float(t.text) else {
      throw error("expected a float, got \(t.quoted)", t)
    }
    return value
  }

  private func intValue(_ t: IRToken) throws(CompileError) -> Int {
    guard t.kind == .number, !t.isFloatNumber else {
      throw error("expected an integer, got \(t.quoted)", t)
    }
    guard let value = Int(t.text) else { throw error("integer \(t.text) out of range", t) }
    return value
  }

  private mutating func float() throws(CompileError) -> Float { try floatValue(advance()) }

  private mutating func int(_ what: String) throws(CompileError) -> Int {
    let token = advance()
    guard token.kind == .number, !token.isFloatNumber else {
      throw error("expected \(what), got \(token.quoted)", token)
    }
    guard let value = Int(token.text) else {
      throw error("integer \(token.text) out of range", token)
    }
    return value
  }

  private mutating func string(_ what: String) throws(CompileError) -> String {
    let token = advance()
    guard token.kind == .string else {
      throw error("expected \(what) in quotes, got \(token.quoted)", token)
    }
    return token.text
  }

  /// A bare word or a quoted string.
  private mutating func name(_ what: String) throws(CompileError) -> String {
    let token = advance()
    guard token.kind == .word || token.kind == .string else {
      throw error("expected \(what), got \(token.quoted)", token)
    }
    return token.text
  }

  /// `key=`, rejecting a key already present.
  private mutating func keyEquals(_ seen: (String) -> Bool, _ what: String) throws(CompileError)
    -> String
  {
    let token = peek
    let key = try name("a \(what) name")
    if seen(key) { throw error("duplicate \(what) '\(key)'", token) }
    try expect("=")
    return key
  }

  // MARK: - Tokens

  /// Moves to the next non-blank line; false at the end of the text.
  private mutating func nextLine() throws(CompileError) -> Bool {
    while lineIndex + 1 < lines.count {
      lineIndex += 1
      tokens = try tokenizeIRLine(
        lines[lineIndex], from: 0, line: lineIndex + 1, fileName: fileName)
      pos = 0
      if peek.kind != .end { return true }
    }
    return false
  }

  private var peek: IRToken { tokens[pos] }

  @discardableResult
  private mutating func advance() -> IRToken {
    let token = tokens[pos]
    if pos + 1 < tokens.count { pos += 1 }
    return token
  }

  private func isPunct(_ p: String) -> Bool { peek.kind == .punct && peek.text == p }

  private mutating func comma() throws(CompileError) -> Bool {
    guard isPunct(",") else { return false }
    advance()
    return true
  }

  private mutating func expect(_ p: String) throws(CompileError) {
    guard isPunct(p) else { throw error("expected '\(p)', got \(peek.quoted)", peek) }
    advance()
  }

  private mutating func expectWord(_ w: String) throws(CompileError) {
    guard peek.kind == .word && peek.text == w else {
      throw error("expected '\(w)', got \(peek.quoted)", peek)
    }
    advance()
  }

  private func expectEnd() throws(CompileError) {
    guard peek.kind == .end else { throw error("unexpected \(peek.quoted) at end of line", peek) }
  }

  private func error(_ message: String, _ token: IRToken) -> CompileError {
    CompileError(message, at: SourceLoc(file: fileName, line: lineIndex + 1, column: token.column))
  }
}
