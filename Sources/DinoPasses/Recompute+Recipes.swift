import DinoIR

/// The facts `rematerialize` needs about one scheduled program: every value's uses, the
/// longest idle stretch of each value's lifetime, and the nodes that recompute a value
/// at a given position from values still live there.
struct RecomputeAnalysis {
  /// The program, in schedule order.
  let program: Program
  /// Per value, the positions of the nodes that read it, ascending (distinct).
  let uses: [[Int]]
  /// Per value, whether it is a program output.
  let isOutput: [Bool]
  /// Per persistent buffer key (`name`, `#region`), the first position an effect op writes it.
  let firstWrite: [String: Int]
  /// Per value, the value that owns its arena slot (`Liveness.slotOwner` as the planner
  /// sees it: a view shares its operand's slot).
  let slotOwner: [Int]
  /// The values worth recomputing, with the position their recompute goes before.
  private(set) var candidates: [Candidate] = []

  /// The deepest chain of values one recompute may rebuild.
  static let maximumDepth = 6

  /// How many positions before a recompute point an operand's last read may lie for the
  /// recipe to keep it live until the point instead of rebuilding it. The backward often
  /// reads a value's source just before the value's own read: `matmul_gelu_bwd` reads a
  /// GELU's pre-activation a few nodes before the weight gradient reads the GELU's output,
  /// and keeping the pre-activation those few nodes longer lets the output be recomputed by
  /// an element-wise GELU instead of its GEMM. The extension lies after the live peak the
  /// recompute is chosen for whenever the operand is idle there; `rematerialize` measures
  /// the rebuilt program's peak either way.
  static let keepAliveWindow = 16

  /// One value that may be dropped after its last read before its longest idle stretch and
  /// recomputed just before the read that ends it.
  struct Candidate {
    /// The value.
    var value: Int
    /// The position of its last read (or its definition) before the idle stretch, or of the
    /// last read of a value sharing its slot when that comes later.
    var idleFrom: Int
    /// The position of the read that ends the idle stretch: the recompute goes right before.
    var point: Int
    /// Its bytes.
    var bytes: Int
    /// The estimated FLOPs of its recompute at `point`.
    var flops: Double
  }

  /// One recomputing node: the original value it computes again and the node.
  typealias Step = (value: Int, node: Node)

  /// The nodes that recompute one value: `steps` in order, each an original value with the
  /// node that recomputes it; operands name original values (recomputed earlier in `steps`,
  /// or read as they are: leaves and values live at the recompute point).
  struct Recipe {
    /// The recomputed values in dependency order, the requested one's unit last. A unit is
    /// one step, or an op with several results followed by its `result` nodes: they run
    /// together (`units`).
    var steps: [Step]
    /// The non-leaf values read as they are.
    var kept: Set<Int>
    /// The estimated FLOPs of all steps.
    var flops: Double
  }

  /// Analyses `program` (scheduled, verified).
  init(_ program: Program) {
    self.program = program
    let count = program.nodes.count
    var uses = Array(repeating: [Int](), count: count)
    for (index, node) in program.nodes.enumerated() {
      for operand in Set(node.operands.map(\.index)) where operand >= 0 && operand < index {
        uses[operand].append(index)
      }
    }
    var isOutput = Array(repeating: false, count: count)
    for output in program.outputs where output.value.index < count {
      isOutput[output.value.index] = true
    }
    var firstWrite: [String: Int] = [:]
    for (index, node) in program.nodes.enumerated() where node.op.isEffect {
      for m in node.op.mutatedOperands where m < node.operands.count {
        for key in Self.accessKeys(program[node.operands[m]]) where firstWrite[key] == nil {
          firstWrite[key] = index
        }
      }
    }
    self.uses = uses
    self.isOutput = isOutput
    self.firstWrite = firstWrite
    self.slotOwner = plannedLiveness(program).liveness.slotOwner
    self.candidates = findCandidates()
  }

  /// The keys under which a persistent buffer is written: a parameter's name and region, a
  /// region leaf's region.
  static func accessKeys(_ node: Node) -> [String] {
    if node.op == .region { return ["#" + node.attrs.string("name")] }
    guard let buffer = node.bufferName else { return [] }
    return [buffer, "#" + (buffer.split(separator: ".").first.map(String.init) ?? buffer)]
  }

  /// The position a value is defined at: a `result` value is written by its producer.
  func definition(_ value: Int) -> Int {
    let node = program.nodes[value]
    return node.op == .result ? node.operands[0].index : value
  }

  /// Whether original value `value` is read at `point` or later (or is an output), so it
  /// is live there whatever is recomputed.
  func isLive(_ value: Int, at point: Int) -> Bool {
    isOutput[value] || (uses[value].last.map { $0 >= point } ?? false)
  }

  /// Every transient value that is not an output, not read by an effect op, and idle for at
  /// least two positions between two reads, with a recipe at the end of its longest idle
  /// stretch. The stretch starts only where the other values of its slot defined before its
  /// end (its views, or the value it views) are last read: dropping it frees nothing before.
  private func findCandidates() -> [Candidate] {
    let others = lastReadsOfSlotMates()
    var result: [Candidate] = []
    for (value, node) in program.nodes.enumerated() {
      guard node.isTransient, !isOutput[value], node.type.byteSize >= arenaAlignment,
        !uses[value].contains(where: { program.nodes[$0].op.isEffect })
      else { continue }
      var from = definition(value), idleFrom = from, point = from
      for use in uses[value] {
        if use - from > point - idleFrom {
          idleFrom = from
          point = use
        }
        from = use
      }
      // The slot is free only once the other values sharing it are read for the last time.
      idleFrom = max(idleFrom, others(value, point))
      guard point - idleFrom >= 2, program.nodes[point].op != .result,
        let recipe = recipe(value, at: point)
      else { continue }
      result.append(
        Candidate(
          value: value, idleFrom: idleFrom, point: point, bytes: node.type.byteSize,
          flops: recipe.flops))
    }
    return result
  }

  /// A function giving, for a value and a recompute point, the last position another value
  /// of its slot (its views, or the value it views and that one's other views) defined
  /// before that point is read (`Int.max` for an output, `Int.min` for none). A view defined
  /// at the point or later reads the recomputed copy, so it keeps nothing live.
  private func lastReadsOfSlotMates() -> (_ value: Int, _ before: Int) -> Int {
    var members: [Int: [Int]] = [:]
    for value in program.nodes.indices where slotOwner[value] != value {
      members[slotOwner[value], default: [slotOwner[value]]].append(value)
    }
    return { value, point in
      var last = Int.min
      for member in members[self.slotOwner[value]] ?? []
      where member != value && self.definition(member) < point {
        last = max(
          last, self.isOutput[member] ? Int.max : self.uses[member].last ?? self.definition(member))
      }
      return last
    }
  }

  /// The recipe that recomputes `value` right before position `point`, or `nil` when some
  /// value it needs is neither live there nor recomputable (a random op, an op with several
  /// results whose producer is not transient, a leaf whose buffer an effect op wrote before
  /// `point`, or a chain deeper than `maximumDepth`).
  func recipe(_ value: Int, at point: Int) -> Recipe? {
    var recipe = Recipe(steps: [], kept: [], flops: 0)
    var done = Set<Int>()
    func visit(_ value: Int, depth: Int) -> Bool {
      if done.contains(value) { return true }
      guard depth <= Self.maximumDepth, let unit = recomputingSteps(value) else { return false }
      let made = Set(unit.map(\.value))
      // In ascending order, so the recipe (and the plan) is the same on every compile.
      for operand in Set(unit.flatMap { $0.node.operands.map(\.index) }).sorted()
      where !made.contains(operand) {
        let source = program.nodes[operand]
        if source.op.isLeaf {
          let written = Self.accessKeys(source).contains { (firstWrite[$0] ?? Int.max) < point }
          if written { return false }
        } else if isLive(operand, at: point - Self.keepAliveWindow) {
          recipe.kept.insert(operand)
        } else if !visit(operand, depth: depth + 1) {
          return false
        }
      }
      for step in unit { recipe.flops += recomputeFlops(step.value, as: step.node) }
      recipe.steps += unit
      done.formUnion(made)
      return true
    }
    return visit(value, depth: 0) ? recipe : nil
  }

  /// The nodes that compute `value` again from original values, in order: one node for a
  /// value with a single-op recipe, else the producer's clone followed by a clone of each
  /// of its `result` nodes (the verifier wants them right after it), all of them original
  /// values the recipe makes together.
  ///
  /// Single-op recipes: a copy of a node with one result; `gelu` of the pre-activation for
  /// `linear_gelu`; `layer_norm` for `layer_norm_train`; `linear` for `linear_gelu`'s
  /// pre-activation. These kernels round as the fused ones do (the `fuse` pass's contract),
  /// so the value is bitwise the same. Every other value of an op with several results
  /// (`attention`'s output and row log-sum-exps, `layer_norm_train`'s statistics) re-runs its
  /// producer: the same kernel on the same operands. `nil` for leaves, effect ops and
  /// random ops.
  func recomputingSteps(_ value: Int) -> [Step]? {
    let node = program.nodes[value]
    guard node.isTransient, node.op.family != .random else { return nil }
    var clone = node
    clone.slot = nil
    clone.isBackward = true
    if node.op == .result {
      let producer = program.nodes[node.operands[0].index]
      guard producer.op == .linearGelu, node.attrs.int("index") == 1 else {
        return producerSteps(node.operands[0].index)
      }
      clone.op = .linear
      clone.operands = producer.operands
      clone.attrs = [:]
      return [(value, clone)]
    }
    let results = resultValues(of: value)
    if results.isEmpty { return [(value, clone)] }
    if node.op == .linearGelu, let preActivation = results[1] {
      clone.op = .gelu
      clone.operands = [ValueID(preActivation)]
      clone.attrs = [:]
      return [(value, clone)]
    }
    if node.op == .layerNormTrain {
      clone.op = .layerNorm
      return [(value, clone)]
    }
    return producerSteps(value)
  }

  /// Clones of node `producer` (an op with several results) and of its `result` nodes, or
  /// `nil` when it is not transient or is random.
  private func producerSteps(_ producer: Int) -> [Step]? {
    let node = program.nodes[producer]
    guard node.isTransient, node.op.family != .random else { return nil }
    var steps: [Step] = []
    let results = resultValues(of: producer).sorted { $0.key < $1.key }.map(\.value)
    for value in [producer] + results {
      var clone = program.nodes[value]
      clone.slot = nil
      clone.isBackward = true
      steps.append((value, clone))
    }
    return steps
  }

  /// The `result` nodes right after `value`, by result index.
  func resultValues(of value: Int) -> [Int: Int] {
    var results: [Int: Int] = [:]
    var next = value + 1
    while next < program.nodes.count, program.nodes[next].op == .result,
      program.nodes[next].operands.first?.index == value
    {
      results[program.nodes[next].attrs.int("index")] = next
      next += 1
    }
    return results
  }

  /// The estimated FLOPs of recomputing `value` with `node`: the GEMM formula of the node
  /// it stands for when `node` runs a GEMM (`linear` for `linear_gelu`'s pre-activation) or
  /// re-runs the original op, else `estimatedFlops`; 0 for a `result` node (its producer
  /// writes it and counts the cost once).
  func recomputeFlops(_ value: Int, as node: Node) -> Double {
    if node.op == .result { return 0 }
    let original = program.nodes[value]
    if node.op.family == .gemm || node.op == original.op {
      let gemm = program.gemmFlops(of: original.op == .result ? original.operands[0].index : value)
      if gemm > 0 { return gemm }
    }
    return estimatedFlops(node)
  }
}

/// The FLOPs of one run of a non-GEMM node, estimated per result element: 8 for GELU and
/// the norms (a transcendental or two passes over a row), 5 for the softmaxes, 1 for every
/// other op (element-wise arithmetic, copies of shape ops), the sum over its steps for an
/// `eltwise_chain`; 0 for leaves, effect ops and `result` nodes (written by their
/// producer).
func estimatedFlops(_ node: Node) -> Double {
  if node.op.isLeaf || node.op.isEffect || node.op == .result { return 0 }
  let perElement: Double
  switch node.op.family {
  case .norm: perElement = 8
  case .softmax: perElement = 5
  case .leaf, .gemm, .eltwise, .attention, .shape, .reduce, .random, .optim:
    if node.op == .eltwiseChain {
      perElement = node.attrs.ints("program").reduce(0.0) { sum, code in
        let op = EltwiseProgram.ops[max(0, min(code / 10_000 - 1, EltwiseProgram.ops.count - 1))]
        return sum + (op == .gelu || op == .geluBwd ? 8 : 1)
      }
    } else {
      perElement = node.op == .gelu || node.op == .geluBwd ? 8 : 1
    }
  }
  return perElement * Double(node.type.count)
}

extension Program {
  /// The estimated FLOPs of one run: `gemmFlops` for the ops with a GEMM formula (the
  /// GEMMs, `attention` and `attention_bwd`), `estimatedFlops` for the rest.
  var estimatedStepFlops: Double {
    nodes.indices.reduce(0) { total, index in
      let gemm = gemmFlops(of: index)
      return total + (gemm > 0 ? gemm : estimatedFlops(nodes[index]))
    }
  }
}
