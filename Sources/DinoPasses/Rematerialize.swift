import DinoIR

/// Rematerialisation: fits the plan under `memoryLimit` bytes by recomputing values of
/// `train_step` in the backward instead of keeping them.
///
/// The limit counts every program's arena, the persistent regions and the input staging
/// buffers (`PlanMemoryNeeds.total`). Without a limit, or when the plan fits already, the
/// graph is returned as it is (speed first). Otherwise, greedily: take the position of the
/// live-bytes peak of `train_step`; among the values idle across it (read before and after,
/// not in between) pick the one with the most bytes per estimated FLOP of recompute
/// (views and element-wise ops first, GEMMs last), drop it after its last read before the
/// peak and recompute it, from values still live there and leaves, right before the read
/// after it (`RecomputeAnalysis`); repeat until the planned arena (`planMemory`, the real
/// planner) fits. The recomputing nodes keep the locations, scope and `absorbed` list of
/// the nodes they copy and are marked backward. The summary goes to `graph.metadata`
/// (`recomputeMetadataKey`, `recomputeValuesMetadataKey`), which `dinoc dump --memory`
/// prints. Sets `graph.stage = "remat"`.
/// - Parameters:
///   - graph: a scheduled, verified graph; it is not modified.
///   - memoryLimit: the bytes the plan may need, `nil` for no limit.
/// - Returns: the graph with recomputes inserted.
/// - Throws: `CompileError` in one line when no choice fits: the smallest size found, what
///   it recomputes, and to raise the limit.
public func rematerialize(_ graph: Graph, memoryLimit: Int?) throws(CompileError) -> Graph {
  var result = graph
  result.stage = "remat"
  guard let limit = memoryLimit else { return result }
  var fixed = persistentAndInputBytes(graph)
  var stepIndex: Int?
  for (p, program) in graph.programs.enumerated() {
    if program.name == "train_step" { stepIndex = p } else { fixed += try plannedArena(program) }
  }
  guard let p = stepIndex else {
    if fixed > limit { throw tooSmall(limit: limit, smallest: fixed) }
    return result
  }
  let program = graph.programs[p]
  let before = try plannedArena(program)
  if fixed + before <= limit { return result }

  let analysis = RecomputeAnalysis(program)
  var chosen: [Int] = []
  var isChosen = Set<Int>()
  var peaks: [(bytes: Int, chosen: Int)] = []
  // What the planner last needed beyond the live peak: planning (the slow part) waits
  // until the peak is that far below the limit.
  var overhead = 0
  while true {
    let rebuilt = analysis.rebuild(chosen)
    let peak = livePeak(rebuilt.program)
    peaks.append((peak.bytes, chosen.count))
    if fixed + peak.bytes + overhead <= limit {
      let arena = try plannedArena(rebuilt.program)
      overhead = max(0, arena - peak.bytes)
      if fixed + arena <= limit {
        result.programs[p] = rebuilt.program
        record(rebuilt, saved: before - arena, of: program, in: &result)
        return result
      }
    }
    // The peak's position in the original order (−1 for an empty program: nothing helps).
    let at = rebuilt.origins.isEmpty ? -1 : rebuilt.origins[peak.position]
    var best: RecomputeAnalysis.Candidate?
    for candidate in analysis.candidates where !isChosen.contains(candidate.value) {
      guard 2 * candidate.idleFrom < at, at < 2 * candidate.point - 1 else { continue }
      if let current = best, score(current) >= score(candidate) { continue }
      best = candidate
    }
    guard let best else {
      let smallest = try smallestPlan(analysis, chosen: chosen, peaks: peaks)
      if fixed + smallest.arena <= limit {  // a step the planning skipped fits after all
        result.programs[p] = smallest.rebuilt.program
        record(smallest.rebuilt, saved: before - smallest.arena, of: program, in: &result)
        return result
      }
      throw tooSmall(
        limit: limit, smallest: fixed + smallest.arena,
        recomputed: smallest.rebuilt.recomputed.count, recomputable: analysis.candidates.count)
    }
    chosen.append(best.value)
    isChosen.insert(best.value)
  }
}

/// The smallest planned arena among the greedy's steps with the lowest live-bytes peaks
/// (the arena is at least the peak, and the planner usually meets it), with that step's
/// program. `peaks` holds each step's peak and how many of `chosen` it took.
private func smallestPlan(
  _ analysis: RecomputeAnalysis, chosen: [Int], peaks: [(bytes: Int, chosen: Int)]
) throws(CompileError) -> (arena: Int, rebuilt: RecomputeAnalysis.Rebuilt) {
  let lowest = peaks.sorted { ($0.bytes, $0.chosen) < ($1.bytes, $1.chosen) }.prefix(8)
  var best: (arena: Int, rebuilt: RecomputeAnalysis.Rebuilt)?
  for step in lowest where step.bytes < best?.arena ?? Int.max {
    let rebuilt = analysis.rebuild(Array(chosen.prefix(step.chosen)))
    let arena = try plannedArena(rebuilt.program)
    if arena < best?.arena ?? Int.max { best = (arena, rebuilt) }
  }
  return best!
}

/// Bytes freed per estimated FLOP (a free recompute, such as a view, scores its bytes).
private func score(_ candidate: RecomputeAnalysis.Candidate) -> Double {
  Double(candidate.bytes) / max(candidate.flops, 1)
}

/// The arena `planMemory` gives `program`.
private func plannedArena(_ program: Program) throws(CompileError) -> Int {
  try planMemory(Graph(programs: [program])).programs[0].arenaBytes ?? 0
}

/// The persistent regions and the input staging buffers of `graph`, in bytes.
private func persistentAndInputBytes(_ graph: Graph) -> Int {
  var bytes = PersistentLayout(graph).regionBytes.values.reduce(0, +)
  for program in graph.programs {
    for node in program.nodes where node.op == .input { bytes += node.type.byteSize }
  }
  return bytes
}

/// The one-line refusal of a limit below the smallest plan found.
private func tooSmall(
  limit: Int, smallest: Int, recomputed: Int = 0, recomputable: Int = 0
) -> CompileError {
  CompileError(
    "--memory-limit \(byteText(limit)) (\(limit) bytes) is too small: the plan needs at least "
      + "\(byteText(smallest)) (\(smallest) bytes) for arenas, persistent buffers and inputs, "
      + "recomputing \(recomputed) of the \(recomputable) values it could recompute; "
      + "raise --memory-limit")
}

/// Writes the summary of `rebuilt` into `graph.metadata`.
private func record(
  _ rebuilt: RecomputeAnalysis.Rebuilt, saved: Int, of original: Program, in graph: inout Graph
) {
  let stepFlops = original.estimatedStepFlops
  graph.metadata[recomputeMetadataKey] =
    "values=\(rebuilt.recomputed.count) nodes=\(rebuilt.insertedNodes) saved=\(saved) "
    + "flops=\(Int(rebuilt.flops)) step_flops=\(Int(stepFlops))"
  var groups: [String: (count: Int, bytes: Int)] = [:]
  for value in rebuilt.recomputed {
    let node = original.nodes[value]
    groups["\(node.op.name) \(node.type)", default: (0, node.type.byteSize)].count += 1
  }
  let sorted = groups.sorted {
    ($0.value.count * $0.value.bytes, $1.key) > ($1.value.count * $1.value.bytes, $0.key)
  }
  graph.metadata[recomputeValuesMetadataKey] =
    sorted.map { "\($0.key) ×\($0.value.count)" }.joined(separator: ", ")
}
