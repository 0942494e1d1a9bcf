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
    // Intermediate copies by original value, with the position they were made at.
    var shared: [Int: (copy: ValueID, at: Int)] = [:]
    for index in 0..<count {
      for value in (byPoint[index] ?? []).sorted() {
        let recipe = recipes[value]!
        var local: [Int: ValueID] = [:]
        for step in neededSteps(recipe, value: value, shared: shared, at: index) {
          if step.value != value, let earlier = shared[step.value],
            index - earlier.at <= Self.sharingWindow
          {
            local[step.value] = earlier.copy
            continue
          }
          var node = step.node
          node.operands = node.operands.map { local[$0.index] ?? current[$0.index] }
          local[step.value] = result.append(node)
          origins.append(2 * index - 1)
          if step.value != value { shared[step.value] = (local[step.value]!, index) }
          rebuilt.insertedNodes += 1
          rebuilt.flops += recomputeFlops(step.value, as: step.node)
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

  /// The steps of `recipe` that `value`'s recompute at `index` runs: an intermediate that
  /// an earlier recompute within `sharingWindow` positions made is taken from there (kept
  /// in the list, to be read, not run), and the steps only it needed are left out.
  func neededSteps(
    _ recipe: Recipe, value: Int, shared: [Int: (copy: ValueID, at: Int)], at index: Int
  ) -> [(value: Int, node: Node)] {
    var needed: Set<Int> = [value]
    for step in recipe.steps.reversed() where needed.contains(step.value) {
      if step.value != value, let earlier = shared[step.value],
        index - earlier.at <= Self.sharingWindow
      {
        continue
      }
      for operand in step.node.operands { needed.insert(operand.index) }
    }
    return recipe.steps.filter { needed.contains($0.value) }
  }
}

/// The peak over positions of the arena bytes live in `program` (as `Liveness.lowerBound`
/// counts them, leaving out the gradients `planMemory` computes into their `grad.*`
/// buffers) and the first position where it is reached.
func livePeak(_ program: Program) -> (bytes: Int, position: Int) {
  let liveness = Liveness(program)
  let homes = gradientHomes(program, liveness)
  let count = program.nodes.count
  var delta = Array(repeating: 0, count: count + 2)
  for case let interval? in liveness.intervals where homes[interval.value.index] == nil {
    delta[interval.start] += interval.bytes
    delta[interval.end + 1] -= interval.bytes
  }
  var live = 0, peak = 0, position = 0
  for index in 0..<count {
    live += delta[index]
    var saved = 0
    if liveness.inPlaceSource[index] != nil, homes[index] == nil,
      let own = liveness.intervals[index]
    {
      saved = own.bytes
    }
    if live - saved > peak {
      peak = live - saved
      position = index
    }
  }
  return (peak, position)
}
