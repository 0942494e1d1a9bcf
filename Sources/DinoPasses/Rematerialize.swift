import DinoIR

/// The share of the step's estimated FLOPs the default plan (no `--memory-limit`) may spend
/// recomputing: 0.5 %. Within it fall the cheapest recomputes (GELU outputs of
/// `linear_gelu`, layer norms, weight norms, concatenated inputs, small crops' attentions),
/// which cut a fifth to a third of the ViT configs' arena; attention over large crops and
/// GEMMs cost several percent each, so only a limit asks for them. The ops within the
/// budget are memory-bound: their share of the step's time is a few times their FLOP share
/// (BENCHMARKS.md, "The default plan").
public let defaultRecomputeBudget = 0.005

/// Rematerialisation: recomputes values of `train_step` in the backward instead of keeping
/// them, to shrink the arena.
///
/// The greedy step: take the position of the live-bytes peak of `train_step` (views share
/// their operand's bytes); among the values idle across it (read before and after, not in
/// between) pick the one with the most bytes per estimated FLOP of recompute (views and
/// element-wise ops first, GEMMs last), drop it after its last read before the peak and
/// recompute it, from values still live there and leaves, right before the read after it
/// (`RecomputeAnalysis`).
///
/// By default (no limit) the greedy runs while the recomputes' summed estimated FLOPs stay
/// within `defaultRecomputeBudget` of the step's, and its result is kept only when the
/// planned arena (`planMemory`, the real planner) shrinks. Under `memoryLimit`, which counts
/// every program's arena, the persistent regions and the input staging buffers
/// (`PlanMemoryNeeds.total`), that default plan is kept when it fits; otherwise the greedy
/// runs from the start, without a budget, until the planned arena fits. The recomputing
/// nodes keep the locations, scope and `absorbed` list of the nodes they copy and are
/// marked backward; they compute the same values bitwise. The summary goes to
/// `graph.metadata` (`recomputeMetadataKey`, `recomputeValuesMetadataKey`), which `dinoc
/// dump --memory` prints. Sets `graph.stage = "remat"`.
/// - Parameters:
///   - graph: a scheduled, verified graph; it is not modified.
///   - memoryLimit: the bytes the plan may need, `nil` for no limit.
///   - recomputing: `false` (`dinoc compile --no-recompute`) returns the graph as it is.
/// - Returns: the graph with recomputes inserted.
/// - Throws: `CompileError` in one line when no choice fits: the smallest size found, what
///   it recomputes, and to raise the limit; or when a limit comes without recomputing.
public func rematerialize(
  _ graph: Graph, memoryLimit: Int?, recomputing: Bool = true
) throws(CompileError) -> Graph {
  var result = graph
  result.stage = "remat"
  try checkRecomputeOptions(hasMemoryLimit: memoryLimit != nil, recomputing: recomputing)
  guard recomputing else { return result }
  var fixed = persistentAndInputBytes(graph)
  var stepIndex: Int?
  for (p, program) in graph.programs.enumerated() {
    if program.name == "train_step" {
      stepIndex = p
    } else if memoryLimit != nil {
      fixed += try plannedArena(program)
    }
  }
  guard let p = stepIndex else {
    if let limit = memoryLimit, fixed > limit { throw tooSmall(limit: limit, smallest: fixed) }
    return result
  }
  let program = graph.programs[p]
  let before = try plannedArena(program)
  let analysis = RecomputeAnalysis(program)
  let cheap = try cheapRecompute(analysis, arena: before)
  func keep(_ plan: (arena: Int, rebuilt: RecomputeAnalysis.Rebuilt)?) -> Graph {
    guard let plan else { return result }
    var kept = result
    kept.programs[p] = plan.rebuilt.program
    record(plan.rebuilt, saved: before - plan.arena, of: program, in: &kept)
    return kept
  }
  guard let limit = memoryLimit else { return keep(cheap) }
  if fixed + (cheap?.arena ?? before) <= limit { return keep(cheap) }

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
      if fixed + arena <= limit { return keep((arena, rebuilt)) }
    }
    guard let best = bestCandidate(analysis, across: peak.position, of: rebuilt, not: isChosen)
    else {
      let smallest = try smallestPlan(analysis, chosen: chosen, peaks: peaks)
      if fixed + smallest.arena <= limit { return keep(smallest) }  // a skipped step fits
      throw tooSmall(
        limit: limit, smallest: fixed + smallest.arena,
        recomputed: smallest.rebuilt.recomputed.count, recomputable: analysis.candidates.count)
    }
    chosen.append(best.value)
    isChosen.insert(best.value)
  }
}

/// Refuses a memory limit without recomputing (`--memory-limit` with `--no-recompute`):
/// the limit is met by recomputing. `dinoc` calls it before compiling the model.
/// - Throws: `CompileError` in one line, saying to drop one.
public func checkRecomputeOptions(
  hasMemoryLimit: Bool, recomputing: Bool
) throws(CompileError) {
  if hasMemoryLimit && !recomputing {
    throw CompileError(
      "--memory-limit fits the plan by recomputing, which --no-recompute turns off: drop one")
  }
}

/// The default plan's recomputes (see `rematerialize`): the greedy within
/// `defaultRecomputeBudget` of the step's estimated FLOPs, with its planned arena; `nil`
/// when that arena is not smaller than `before`.
private func cheapRecompute(
  _ analysis: RecomputeAnalysis, arena before: Int
) throws(CompileError) -> (arena: Int, rebuilt: RecomputeAnalysis.Rebuilt)? {
  let budget = defaultRecomputeBudget * analysis.program.estimatedStepFlops
  var chosen: [Int] = []
  var isChosen = Set<Int>()
  var peaks: [(bytes: Int, chosen: Int)] = []
  var rebuilt = analysis.rebuild([])
  while true {
    let peak = livePeak(rebuilt.program)
    peaks.append((peak.bytes, chosen.count))
    guard let best = bestCandidate(analysis, across: peak.position, of: rebuilt, not: isChosen)
    else { break }
    let next = analysis.rebuild(chosen + [best.value])
    if next.flops > budget { break }
    chosen.append(best.value)
    isChosen.insert(best.value)
    rebuilt = next
  }
  if chosen.isEmpty { return nil }
  let smallest = try smallestPlan(analysis, chosen: chosen, peaks: peaks)
  return smallest.arena < before ? smallest : nil
}

/// The candidate not in `chosen` idle across position `position` of `rebuilt` with the best
/// `score`, or `nil` when none is (nothing lowers that peak).
private func bestCandidate(
  _ analysis: RecomputeAnalysis, across position: Int, of rebuilt: RecomputeAnalysis.Rebuilt,
  not chosen: Set<Int>
) -> RecomputeAnalysis.Candidate? {
  // The peak's position in the original order (−1 for an empty program: nothing helps).
  let at = rebuilt.origins.isEmpty ? -1 : rebuilt.origins[position]
  var best: RecomputeAnalysis.Candidate?
  for candidate in analysis.candidates where !chosen.contains(candidate.value) {
    guard 2 * candidate.idleFrom < at, at < 2 * candidate.point - 1 else { continue }
    if let current = best, score(current) >= score(candidate) { continue }
    best = candidate
  }
  return best
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
