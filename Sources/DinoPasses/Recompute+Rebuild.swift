import DinoIR

extension RecomputeAnalysis {
  /// A program with some values recomputed.
  struct Rebuilt {
    /// The program: the original nodes in order, each recompute's nodes right before the
    /// read that ends the value's idle stretch.
    var program: Program
    /// Per node, twice the original position it stands for (an original node at position
    /// i: 2i; a recompute inserted before it: 2i − 1).
    var origins: [Int]
    /// The recomputed values that took effect.
    var recomputed: [Int]
    /// The nodes inserted.
    var insertedNodes: Int
    /// The estimated FLOPs of the inserted nodes.
    var flops: Double
  }

  /// `program` with every value of `chosen` (candidate values) recomputed.
  ///
  /// Each value is recomputed right before its candidate point; when a recompute reads a
  /// chosen value whose own point comes later, that value's recompute moves up to the
  /// earlier point, so the two share it. From its point on, every read of a recomputed
  /// value reads the new copy, so the original dies at its last read before the idle
  /// stretch. Memory slots are dropped.
  func rebuild(_ chosen: [Int]) -> Rebuilt {
    let pointOf = Dictionary(uniqueKeysWithValues: candidates.map { ($0.value, $0.point) })
    var point: [Int: Int] = [:]
    for value in chosen { point[value] = pointOf[value] }
    var recipes: [Int: Recipe] = [:]
    var changed = true
    while changed {
      changed = false
      recipes = [:]
      for value in chosen {
        guard let at = point[value], let recipe = recipe(value, at: at) else { continue }
        recipes[value] = recipe
        for kept in recipe.kept where (point[kept] ?? Int.min) > at {
          point[kept] = at
          changed = true
        }
      }
    }
    var byPoint: [Int: [Int]] = [:]
    for (value, at) in point where recipes[value] != nil { byPoint[at, default: []].append(value) }

    let count = program.nodes.count
    var current = Array(repeating: ValueID(-1), count: count)
    var result = Program(name: program.name)
    result.nodes.reserveCapacity(count + chosen.count * 2)
    var origins: [Int] = []
    origins.reserveCapacity(count + chosen.count * 2)
    var rebuilt = Rebuilt(program: result, origins: [], recomputed: [], insertedNodes: 0, flops: 0)
    // Copies others may share (intermediates, and every value of an op with several
    // results), by original value, with the position they were made at.
    var shared: [Int: (copy: ValueID, at: Int)] = [:]
    for index in 0..<count {
      for value in (byPoint[index] ?? []).sorted() {
        var local: [Int: ValueID] = [:]
        for unit in neededUnits(recipes[value]!, value: value, shared: shared, at: index) {
          if unit.reused {
            for step in unit.steps { local[step.value] = shared[step.value]!.copy }
            continue
          }
          for step in unit.steps {
            var node = step.node
            node.operands = node.operands.map { local[$0.index] ?? current[$0.index] }
            local[step.value] = result.append(node)
            origins.append(2 * index - 1)
            rebuilt.insertedNodes += 1
            rebuilt.flops += recomputeFlops(step.value, as: step.node)
          }
          for step in unit.steps where unit.steps.count > 1 || step.value != value {
            shared[step.value] = (local[step.value]!, index)
          }
        }
        current[value] = local[value]!
        rebuilt.recomputed.append(value)
      }
      var node = program.nodes[index]
      node.operands = node.operands.map { current[$0.index] }
      node.slot = nil
      current[index] = result.append(node)
      origins.append(2 * index)
    }
    result.outputs = program.outputs.map {
      ProgramOutput(name: $0.name, value: current[$0.value.index])
    }
    rebuilt.program = result
    rebuilt.origins = origins
    return rebuilt
  }
}

extension RecomputeAnalysis {
  /// How many positions apart two recomputes may be and still share an intermediate copy
  /// (the qkv GEMM behind q, k and v): the copy stays live between them.
  static let sharingWindow = 32

  /// The units of `recipe` that `value`'s recompute at `index` runs or reuses, in order:
  /// one whose copies an earlier recompute within `sharingWindow` positions made is
  /// `reused` (read, not run), and the units only it needed are left out. A one-step unit
  /// is reused when it is not `value` itself; a unit of several results when an earlier
  /// run made all of them (requested there or not), so `attention`'s output and
  /// lse, recomputed a few positions apart, share one run.
  func neededUnits(
    _ recipe: Recipe, value: Int, shared: [Int: (copy: ValueID, at: Int)], at index: Int
  ) -> [(steps: ArraySlice<Step>, reused: Bool)] {
    var needed: Set<Int> = [value]
    var result: [(steps: ArraySlice<Step>, reused: Bool)] = []
    for unit in Self.units(recipe.steps).reversed() {
      let members = unit.map(\.value)
      guard members.contains(where: needed.contains) else { continue }
      let reused = members.allSatisfy { member in
        (unit.count > 1 || member != value)
          && shared[member].map { index - $0.at <= Self.sharingWindow } ?? false
      }
      result.append((unit, reused))
      if reused { continue }
      for step in unit { for operand in step.node.operands { needed.insert(operand.index) } }
    }
    return result.reversed()
  }

  /// `steps` cut into units: each step, with the `result` steps right after a step joined
  /// to it (an op with several results runs with its `result` nodes).
  static func units(_ steps: [Step]) -> [ArraySlice<Step>] {
    var units: [ArraySlice<Step>] = []
    var start = 0
    for end in steps.indices.dropFirst() {
      let step = steps[end]
      let joins = step.node.op == .result && step.node.operands.first?.index == steps[start].value
      if !joins {
        units.append(steps[start..<end])
        start = end
      }
    }
    if !steps.isEmpty { units.append(steps[start...]) }
    return units
  }
}

/// The peak over positions of the arena bytes live in `program` as the planner sees it
/// (`plannedLiveness`: views share their operand's bytes, the gradients `planMemory`
/// computes into their `grad.*` buffers take none) and the first position where it is
/// reached.
func livePeak(_ program: Program) -> (bytes: Int, position: Int) {
  plannedLiveness(program).liveness.peak
}
