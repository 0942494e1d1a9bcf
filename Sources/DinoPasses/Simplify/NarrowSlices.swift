import DinoIR

/// Computes only the rows a `slice` keeps: every `slice(f(x, …))` whose `f` works on the
/// sliced axis row by row becomes `f(slice(x), …)`, as deep as the graph allows. A ViT
/// keeps only the class token of its last block (`slice(x) {axis=1, end=1}` before the final
/// norm), so its last block's MLP, projection, attention queries and (in the backward) their
/// gradients shrink from every token to one, for the student, the teacher and the
/// evaluation programs alike. Runs before `autodiff`, so the backward is derived from the
/// narrowed forward.
///
/// A slice moves through its operand `f` when every reader of `f` is a slice with the same
/// axis and range (then they all become one narrowed `f`) and `f` is not a program output;
/// inside the chain, an operand moves along only when the node being narrowed is its only
/// reader. Where an operand is read elsewhere too, a `slice` of it is emitted instead (once
/// per operand and range) and the next round moves on through it once the other readers have
/// been narrowed as well. The rounds repeat until nothing moves. What moves, per op (axis
/// `a` of a rank-`R` result):
/// - `add`, `sub`, `mul`, `div`, `scale`, `gelu`, `exp`, `log`: each operand that has the
///   axis at full extent is sliced; a broadcast operand (extent 1, or a lower rank that
///   lacks the axis) is read as it is;
/// - `layer_norm`, `linear`, `softmax`, `log_softmax` for `a < R − 1` (rows, not features);
/// - `matmul` along its rows (`a = R − 2`: A's rows) or columns (`a = R − 1`: B's columns)
///   when that operand has the result's rank, or a batch axis (each operand that has it);
/// - `reshape` when the axis survives it (the same extent with the same product before it);
/// - `permute` (the axis it came from), and a `slice` along an earlier axis.
/// Every value computed is the same row by row as before (each row of a GEMM sums over k in
/// its kernel's order, which may change with the row count: within the parity tolerance).
/// Sets `graph.stage = "narrow"`.
/// - Parameter graph: a verified graph; it is not modified.
/// - Returns: the graph with its slices moved towards the inputs.
public func narrowSlices(_ graph: Graph) -> Graph {
  var result = graph
  for p in graph.programs.indices {
    var program = graph.programs[p]
    // Each round moves every slice it moves at least one node closer to the inputs, so the
    // rounds are bounded by the program's depth; the cap only guards against a rule that
    // would not settle (every round's program is complete and correct on its own).
    for _ in 0...(2 * program.nodes.count) {
      guard let narrowed = narrowSlicesOnce(program) else { break }
      program = withoutUnreadPureNodes(narrowed)
    }
    result.programs[p] = program
  }
  result.stage = "narrow"
  return result
}

/// A range of one axis of a value: what a slice keeps.
private struct SliceRange: Hashable {
  var axis: Int
  var start: Int
  var end: Int

  /// `type` with this axis cut to the range.
  func cut(_ type: TensorType) -> TensorType {
    var type = type
    type.shape[axis] = end - start
    return type
  }

  /// The same range on another axis.
  func on(_ axis: Int) -> SliceRange { SliceRange(axis: axis, start: start, end: end) }

}

extension SliceRange {
  /// The range a `slice` node keeps.
  init?(slice node: Node) {
    guard node.op == .slice else { return nil }
    self.init(
      axis: node.attrs.int("axis"), start: node.attrs.int("start"), end: node.attrs.int("end"))
  }
}

/// How one op moves a slice of its result: for each operand, the range to read it at
/// (`nil`: the operand is read whole), and the narrowed node's attributes.
private struct Narrowing {
  var operands: [SliceRange?]
  var attrs: Attributes
}

/// Ops whose result is the same function of each row of their (broadcast) operands.
private let elementwise: Set<OpKind> = [.add, .sub, .mul, .div, .scale, .gelu, .exp, .log]

/// Ops that act on the last axis only: any other axis narrows their first operand.
private let rowwise: Set<OpKind> = [.layerNorm, .linear, .softmax, .logSoftmax]

/// How `node` (type `node.type`) computes its result cut to `range`, or `nil` when the cut
/// cannot move through it.
private func narrowing(of node: Node, in program: Program, to range: SliceRange) -> Narrowing? {
  let rank = node.type.rank
  let axis = range.axis
  let operandTypes = node.operands.map { program[$0].type }
  /// Each operand cut where it has the axis at full extent (right-aligned), else read whole.
  func broadcastCuts(_ types: [TensorType]) -> Narrowing? {
    let cuts = types.map { type -> SliceRange? in
      let own = axis - (rank - type.rank)
      return own >= 0 && type.shape[own] == node.type.shape[axis] ? range.on(own) : nil
    }
    return cuts.contains { $0 != nil } ? Narrowing(operands: cuts, attrs: node.attrs) : nil
  }
  if elementwise.contains(node.op) { return broadcastCuts(operandTypes) }
  if rowwise.contains(node.op) {
    guard axis < rank - 1, operandTypes[0].rank == rank else { return nil }
    return Narrowing(
      operands: [range] + Array(repeating: nil, count: node.operands.count - 1), attrs: node.attrs)
  }
  switch node.op {
  case .matmul:
    let (a, b) = (operandTypes[0], operandTypes[1])
    if axis == rank - 2, a.rank == rank {
      let rows = node.attrs.int("trans_a") == 1 ? rank - 1 : rank - 2
      return Narrowing(operands: [range.on(rows), nil], attrs: node.attrs)
    }
    if axis == rank - 1, b.rank == rank {
      let columns = node.attrs.int("trans_b") == 1 ? rank - 2 : rank - 1
      return Narrowing(operands: [nil, range.on(columns)], attrs: node.attrs)
    }
    return axis < rank - 2 ? broadcastCuts([a, b]) : nil  // a batch axis
  case .slice:
    // Cuts along two different axes commute; only the later axis moves inwards, so two
    // cuts never trade places back and forth from one round to the next.
    guard node.attrs.int("axis") < axis else { return nil }
    return Narrowing(operands: [range], attrs: node.attrs)
  case .permute:
    let perm = node.attrs.ints("perm")
    return Narrowing(operands: [range.on(perm[axis])], attrs: node.attrs)
  case .reshape:
    let from = operandTypes[0].shape
    let to = node.type.shape
    let before = to[..<axis].reduce(1, *)
    var product = 1
    for (j, extent) in from.enumerated() {
      if product == before && extent == to[axis] {
        var attrs = node.attrs
        attrs["shape"] = .ints(range.cut(node.type).shape)
        return Narrowing(operands: [range.on(j)], attrs: attrs)
      }
      product *= extent
      if product > before { break }
    }
    return nil
  default:
    return nil
  }
}

/// One round of `narrowSlices` over `program`: the rebuilt program, or `nil` when no slice
/// moved. The nodes the moved slices replaced stay, unread (`withoutUnreadPureNodes` drops
/// them).
private func narrowSlicesOnce(_ program: Program) -> Program? {
  let users = program.users()
  let outputs = Set(program.outputs.map(\.value.index))
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var narrowed: [Int: [SliceRange: ValueID]] = [:]  // original value → its cuts in `result`
  var result = Program(name: program.name, arenaBytes: nil)
  var moved = false

  /// `value` cut to `range`, in `result`; a `slice` it emits takes the location and scope of
  /// `site`, the node that reads the cut.
  func cut(_ value: Int, _ range: SliceRange, site: Node, narrowing rule: Narrowing?) -> ValueID {
    if let done = narrowed[value]?[range] { return done }
    let node = program.nodes[value]
    let made: ValueID
    if let rule {
      var copy = node
      copy.type = range.cut(node.type)
      copy.attrs = rule.attrs
      copy.slot = nil
      copy.operands = zip(node.operands, rule.operands).map { operand, operandRange in
        guard let operandRange else { return map[operand.index] }
        return cutOperand(operand.index, operandRange, site: node)
      }
      made = result.append(copy)
      moved = true
    } else {
      var slice = site
      slice.op = .slice
      slice.operands = [map[value]]
      slice.attrs = ["axis": .int(range.axis), "start": .int(range.start), "end": .int(range.end)]
      slice.type = range.cut(node.type)
      slice.absorbed = []
      slice.slot = nil
      made = result.append(slice)
    }
    narrowed[value, default: [:]][range] = made
    return made
  }

  /// An operand of a node being narrowed: narrowed itself when that node is its only reader.
  func cutOperand(_ value: Int, _ range: SliceRange, site: Node) -> ValueID {
    let alone = users[value].count == 1 && !outputs.contains(value)
    let rule = alone ? narrowing(of: program.nodes[value], in: program, to: range) : nil
    return cut(value, range, site: site, narrowing: rule)
  }

  for (index, node) in program.nodes.enumerated() {
    if let range = SliceRange(slice: node) {
      let source = node.operands[0].index
      let readers = users[source].map { SliceRange(slice: program[$0]) }
      let onlyThisCut = !outputs.contains(source) && readers.allSatisfy { $0 == range }
      let rule = onlyThisCut ? narrowing(of: program.nodes[source], in: program, to: range) : nil
      if rule != nil || narrowed[source]?[range] != nil {
        map[index] = cut(source, range, site: node, narrowing: rule)
        continue
      }
    }
    var copy = node
    copy.operands = node.operands.map { map[$0.index] }
    copy.slot = nil
    map[index] = result.append(copy)
  }
  guard moved else { return nil }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}

/// `program` without the pure nodes (element-wise, row-wise, GEMM and shape ops) that no node
/// and no output reads, repeatedly; everything else stays, in order.
private func withoutUnreadPureNodes(_ program: Program) -> Program {
  let pure = elementwise.union(rowwise).union([.matmul, .permute, .reshape, .slice])
  var readers = Array(repeating: 0, count: program.nodes.count)
  for output in program.outputs { readers[output.value.index] += 1 }
  for node in program.nodes { for operand in node.operands { readers[operand.index] += 1 } }
  var keep = Array(repeating: true, count: program.nodes.count)
  for index in program.nodes.indices.reversed() {
    let node = program.nodes[index]
    guard readers[index] == 0, pure.contains(node.op) else { continue }
    keep[index] = false
    for operand in node.operands { readers[operand.index] -= 1 }
  }
  return program.reordered(program.nodes.indices.filter { keep[$0] })
}
