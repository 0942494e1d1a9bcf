import DinoIR

/// Turns the per-tensor optimiser and EMA into one pass each over flat buffers (issue 9).
///
/// In `train_step`, the `adamw_update`s of the `student.*` parameters (each with its
/// `clip_grad_coef`/`mul` clipping, when present) become one `adamw_flat`: each raw
/// gradient is assigned to a persistent buffer `grad.<name>` (region `grad`, mirrored like
/// `student`, `adam_m` and `adam_v`; `planMemory` computes the gradient straight into it,
/// so it leaves the arena and the assign copies nothing), then `adamw_flat` reads the
/// regions through `region` leaves and a segment table, one row per parameter (element
/// offset and count, the index of its `adam_step.<name>` count, its decay flag, whether
/// `last_layer_gate` gates it). The step is the same: per-parameter clipping, decay only
/// where `adamw_update` had it, a gated segment (gate 0) keeps parameters, moments and
/// its own step count. In `ema`, the `ema_update`s become one `ema_flat` over the
/// `teacher` and `student` regions with one row per updated teacher buffer.
///
/// It runs after `schedule`, because the persistent layout the tables index follows the
/// order of the parameter nodes, and nothing reorders them afterwards. A program whose
/// updates do not have this shape (a parameter outside `student`, mixed clipping or
/// hyper-parameters, more than one gate) is left per tensor. Sets `graph.stage = "flatten"`.
/// - Parameter graph: a verified, scheduled graph.
/// - Returns: the graph with flat updates.
public func flatten(_ graph: Graph) throws(CompileError) -> Graph {
  var result = graph
  if let index = graph.programIndex("train_step"),
    let program = flatOptimizer(graph.programs[index], in: graph, at: index)
  {
    result.programs[index] = program
  }
  if let index = result.programIndex("ema"),
    let program = flatEMA(result.programs[index], in: result, at: index)
  {
    result.programs[index] = program
  }
  result.stage = "flatten"
  return result
}

/// One per-tensor update found in `train_step`.
private struct TensorUpdate {
  var node: Int
  var param: String
  var gradient: Int
  var removed: [Int]
  var decay: Bool
  var gated: Bool
}

/// `program` with its student AdamW updates flattened, or `nil` when it has none or they
/// do not share one shape.
private func flatOptimizer(_ program: Program, in graph: Graph, at index: Int) -> Program? {
  var readers = Array(repeating: 0, count: program.nodes.count)
  for node in program.nodes {
    for operand in Set(node.operands.map(\.index)) { readers[operand] += 1 }
  }
  let indices = program.nodes.indices.filter { program.nodes[$0].op == .adamwUpdate }
  guard let first = indices.first else { return nil }
  let shared = program.nodes[first]
  let sharedClip = clipping(of: shared.operands[1].index, in: program, readers: readers)
  var updates: [TensorUpdate] = []
  var gate: ValueID?
  for i in indices {
    let node = program.nodes[i]
    let param = program[node.operands[0]].attrs.string("name")
    let names = [1: "", 2: "adam_m.", 3: "adam_v.", 4: "adam_step."]
    guard param.hasPrefix("student."),
      node.operands[5] == shared.operands[5], node.operands[6] == shared.operands[6],
      ["beta1", "beta2", "eps"].allSatisfy({ node.attrs.float($0) == shared.attrs.float($0) }),
      names.allSatisfy({ k, prefix in
        prefix.isEmpty || program[node.operands[k]].bufferName == prefix + param
      })
    else { return nil }
    let clip = clipping(of: node.operands[1].index, in: program, readers: readers)
    guard clip.maxNorm == sharedClip.maxNorm else { return nil }
    let gateNode = program[node.operands[7]]
    let ungated = gateNode.op == .constant && gateNode.attrs.floats("data") == [1]
    if !ungated {
      if let gate, gate != node.operands[7] { return nil }
      gate = node.operands[7]
    }
    updates.append(
      TensorUpdate(
        node: i, param: param, gradient: clip.gradient, removed: [i] + clip.removed,
        decay: node.attrs.int("decay") != 0, gated: !ungated))
  }
  let removed = Set(updates.flatMap(\.removed))
  let keep = program.nodes.indices.filter { !removed.contains($0) }
  var newIndex = Array(repeating: -1, count: program.nodes.count)
  for (position, old) in keep.enumerated() { newIndex[old] = position }
  var flat = program.reordered(keep)
  for update in updates.sorted(by: { $0.gradient < $1.gradient }) {
    let paramNode = program.nodes[program.nodes[update.node].operands[0].index]
    let scope = "optimizer.\(update.param)"
    let buffer = flat.append(
      Node(
        .parameter,
        attrs: [
          "name": .string("grad.\(update.param)"), "init": .string("zeros"),
          "trainable": .int(0),
        ],
        type: paramNode.type, loc: paramNode.loc, scope: scope))
    flat.append(
      Node(
        .assign, [buffer, ValueID(newIndex[update.gradient])], type: .scalar,
        loc: paramNode.loc, scope: scope))
  }
  var staged = graph
  staged.programs[index] = flat
  let layout = PersistentLayout(staged)
  let rows = updates.map { update in
    FlatSegmentRow(
      offset: layout.entries[update.param]!.offset / 4,
      count: layout.entries[update.param]!.bytes / 4,
      step: layout.entries["adam_step.\(update.param)"]!.offset / 4,
      decay: update.decay, gated: update.gated)
  }.sorted { $0.offset < $1.offset }
  let loc = shared.loc
  let regions = ["student", "grad", "adam_m", "adam_v", "adam_step"].map {
    flat.append(regionLeaf($0, layout: layout, loc: loc, scope: "optimizer"))
  }
  let operands = [shared.operands[5], shared.operands[6], gate ?? shared.operands[7]]
  let table = flat.append(segmentTable(rows, loc: loc, scope: "optimizer"))
  flat.append(
    Node(
      .adamwFlat, regions + operands.map { ValueID(newIndex[$0.index]) } + [table],
      attrs: [
        "max_norm": .float(sharedClip.maxNorm), "beta1": shared.attrs["beta1"]!,
        "beta2": shared.attrs["beta2"]!, "eps": shared.attrs["eps"]!,
      ],
      type: .scalar, loc: loc, scope: "optimizer"))
  return flat
}

/// The raw gradient behind an `adamw_update`'s gradient operand `value`: for
/// `mul(g, clip_grad_coef(g){max_norm})` (read by the update alone) `g`, `max_norm` and the
/// two nodes that go; otherwise `value` itself, 0 and nothing.
private func clipping(of value: Int, in program: Program, readers: [Int])
  -> (gradient: Int, maxNorm: Double, removed: [Int])
{
  let node = program.nodes[value]
  guard node.op == .mul, readers[value] == 1 else { return (value, 0, []) }
  let coef = node.operands[1].index
  let coefNode = program.nodes[coef]
  guard coefNode.op == .clipGradCoef, coefNode.operands[0] == node.operands[0],
    readers[coef] == 1
  else { return (value, 0, []) }
  return (node.operands[0].index, coefNode.attrs.float("max_norm"), [value, coef])
}

/// `program` (the `ema` program) with its `ema_update`s flattened, or `nil` when it has
/// none or they do not all move a `teacher.*` buffer towards its `student.*` twin with
/// one momentum.
private func flatEMA(_ program: Program, in graph: Graph, at index: Int) -> Program? {
  let indices = program.nodes.indices.filter { program.nodes[$0].op == .emaUpdate }
  guard let first = indices.first else { return nil }
  let momentum = program.nodes[first].operands[2]
  var teachers: [String] = []
  for i in indices {
    let node = program.nodes[i]
    let teacher = program[node.operands[0]].attrs.string("name")
    guard teacher.hasPrefix("teacher."), node.operands[2] == momentum,
      program[node.operands[1]].bufferName == "student" + teacher.dropFirst("teacher".count)
    else { return nil }
    teachers.append(teacher)
  }
  let removed = Set(indices)
  let keep = program.nodes.indices.filter { !removed.contains($0) }
  var flat = program.reordered(keep)
  let layout = PersistentLayout(graph)
  let rows = teachers.map {
    FlatSegmentRow(offset: layout.entries[$0]!.offset / 4, count: layout.entries[$0]!.bytes / 4)
  }.sorted { $0.offset < $1.offset }
  let loc = program.nodes[first].loc
  let regions = ["teacher", "student"].map {
    flat.append(regionLeaf($0, layout: layout, loc: loc, scope: "ema"))
  }
  let table = flat.append(segmentTable(rows, loc: loc, scope: "ema"))
  let newMomentum = ValueID(keep.firstIndex(of: momentum.index)!)
  flat.append(
    Node(.emaFlat, regions + [newMomentum, table], type: .scalar, loc: loc, scope: "ema"))
  return flat
}

/// A `region` leaf over the whole of region `name` as `layout` sizes it.
private func regionLeaf(_ name: String, layout: PersistentLayout, loc: SourceLoc, scope: String)
  -> Node
{
  Node(
    .region, attrs: ["name": .string(name)],
    type: TensorType(.f32, [(layout.regionBytes[name] ?? 0) / 4]), loc: loc, scope: scope)
}

/// The segment table of `rows` as a constant f32[S,8].
private func segmentTable(_ rows: [FlatSegmentRow], loc: SourceLoc, scope: String) -> Node {
  Node(
    .constant, attrs: ["data": .floats(FlatSegmentRow.table(rows))],
    type: TensorType(.f32, [rows.count, OpKind.segmentTableColumns]), loc: loc, scope: scope)
}

/// One row of a flat op's segment table (IR/OPS.md `adamw_flat`).
public struct FlatSegmentRow: Hashable, Sendable {
  /// First element of the segment in its regions.
  public var offset: Int
  /// Elements.
  public var count: Int
  /// Index of its step count in the `adam_step` region (0 for `ema_flat`).
  public var step: Int
  /// Whether weight decay applies.
  public var decay: Bool
  /// Whether `last_layer_gate` gates it.
  public var gated: Bool

  /// Creates a row.
  public init(offset: Int, count: Int, step: Int = 0, decay: Bool = false, gated: Bool = false) {
    self.offset = offset
    self.count = count
    self.step = step
    self.decay = decay
    self.gated = gated
  }

  /// The table's data, row-major [S, 8]: integers as hi·2^24 + lo.
  public static func table(_ rows: [FlatSegmentRow]) -> [Float] {
    rows.flatMap { row -> [Float] in
      func split(_ x: Int) -> [Float] { [Float(x >> 24), Float(x & 0xFF_FFFF)] }
      return split(row.offset) + split(row.count) + split(row.step)
        + [row.decay ? 1 : 0, row.gated ? 1 : 0]
    }
  }
}
