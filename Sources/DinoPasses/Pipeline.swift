import DinoIR

/// The compiler's passes, in order, with the checks that run after each one.
public enum Pipeline {
  /// One compiler pass: a pure function from graph to graph.
  public typealias Pass = @Sendable (Graph) throws(CompileError) -> Graph

  /// The passes, in order, with fusion, without a memory limit and with the cheap
  /// recomputes (the default).
  public static let passes: [(name: String, run: Pass)] = passes(fusing: true)

  /// The passes, in order. Inserting a pass is one line: `("name", function)`, where the
  /// function takes a `Graph` and returns a `Graph` (wrap extra parameters in a closure).
  /// - Parameter fusing: whether `fuse` fuses; `false` (`dinoc compile --no-fuse`) keeps the
  ///   pass in the list but makes it only mark the stage, so `--after fuse` still works.
  ///   - memoryLimit: the bytes the plan may need (`dinoc compile --memory-limit`): `remat`
  ///     recomputes activations until it fits; `nil` (the default): only the cheap
  ///     recomputes within `defaultRecomputeBudget` of the step's FLOPs.
  ///   - recomputing: `false` (`dinoc compile --no-recompute`): `remat` recomputes nothing.
  public static func passes(
    fusing: Bool, memoryLimit: Int? = nil, recomputing: Bool = true
  ) -> [(name: String, run: Pass)] {
    [
      ("verify", { graph in staged(graph, "verify") }),
      ("narrow", { graph in narrowSlices(graph) }),
      (
        "autodiff",
        { graph throws(CompileError) in
          let trained = needsGradients(graph) ? try differentiate(graph) : graph
          return staged(try differentiateGradientsProgram(trained), "autodiff")
        }
      ),
      (
        "optimizer",
        { graph throws(CompileError) in
          hasGradients(graph) ? try appendOptimizer(graph) : staged(graph, "optimizer")
        }
      ),
      ("ema", { graph throws(CompileError) in staged(try buildEMA(graph), "ema") }),
      ("dead_code", eliminateDeadCode),
      (
        "fuse",
        { graph throws(CompileError) in
          fusing ? try fuse(graph) : staged(graph, "fuse")
        }
      ),
      ("schedule", schedule),
      ("flatten", flatten),
      (
        "remat",
        { graph throws(CompileError) in
          try rematerialize(graph, memoryLimit: memoryLimit, recomputing: recomputing)
        }
      ),
      ("plan_memory", planMemory),
    ]
  }

  /// The pass names, in order (what `--stop-after` and `--after` accept).
  public static var passNames: [String] { passes.map(\.name) }

  /// Runs the passes in order on `graph`.
  ///
  /// The input is verified first (`Verifier.verify`); after every pass, `Verifier.verify`
  /// runs, and for every program that has an arena size, `memoryProblems` proves its plan
  /// sound.
  /// - Parameters:
  ///   - graph: the captured graph.
  ///   - stopAfter: the name of the last pass to run; `nil` runs them all.
  ///   - fusing: whether the `fuse` pass fuses (`false`: the unfused pipeline).
  ///   - skipping: passes not to run (only `flatten` may be skipped: the others are needed).
  ///   - memoryLimit: the bytes the plan may need (see `rematerialize`); `nil`: no limit.
  ///   - recomputing: `false` recomputes nothing (see `rematerialize`).
  ///   - observe: called with each pass's name and output, after its checks passed.
  /// - Returns: the graph after the last pass run.
  /// - Throws: `CompileError` for an unknown pass name (listing the names), a pass's own
  ///   error, or the first verifier or memory problem, with a note naming the pass.
  public static func run(
    _ graph: Graph, stopAfter: String? = nil, fusing: Bool = true,
    skipping: Set<String> = [], memoryLimit: Int? = nil, recomputing: Bool = true,
    observe: ((String, Graph) -> Void)? = nil
  ) throws(CompileError) -> Graph {
    if let other = skipping.first(where: { $0 != "flatten" }) {
      throw CompileError("pass '\(other)' cannot be skipped (only flatten can)")
    }
    if let stopAfter, !passNames.contains(stopAfter) {
      throw CompileError(
        "unknown pass '\(stopAfter)' (passes: \(passNames.joined(separator: ", ")))")
    }
    try check(graph, after: nil)
    var graph = graph
    let all = passes(fusing: fusing, memoryLimit: memoryLimit, recomputing: recomputing)
    for pass in all {
      if skipping.contains(pass.name) {
        graph = staged(graph, pass.name)
        if pass.name == stopAfter { break }
        continue
      }
      graph = try pass.run(graph)
      let last = pass.name == stopAfter || pass.name == passes.last?.name
      try check(graph, after: pass.name, proveMemory: last)
      observe?(pass.name, graph)
      if pass.name == stopAfter { break }
    }
    return graph
  }

  /// The checks run between passes: the verifier, then (after the last pass run) the memory
  /// proof of every planned program, once per compilation; the plan reader runs it again
  /// at load. The pipeline's input only gets the verifier: the passes drop any plan it
  /// carries before planning again.
  /// - Parameters:
  ///   - graph: the graph to check.
  ///   - pass: the pass that produced it; `nil` for the pipeline's input.
  ///   - proveMemory: whether to run the memory proof (`run` asks for it after its last pass).
  /// - Throws: the first problem, with a note `after pass NAME` (or `in the pipeline's input`).
  public static func check(
    _ graph: Graph, after pass: String?, proveMemory: Bool = true
  ) throws(CompileError) {
    let note = pass.map { "after pass \($0)" } ?? "in the pipeline's input"
    do {
      try Verifier.verify(graph)
    } catch {
      throw CompileError(error.message, at: error.loc, notes: error.notes + [note])
    }
    guard pass != nil, proveMemory else { return }
    for program in graph.programs where program.arenaBytes != nil {
      let problems = memoryProblems(program)
      if let first = problems.first {
        throw CompileError(
          "unsound memory plan: \(first)", notes: Array(problems.dropFirst().prefix(4)) + [note])
      }
    }
  }

  /// Whether `train_step` still needs differentiating: it returns a `loss` and has neither
  /// gradients nor optimiser updates yet (IR given at a later stage passes through).
  static func needsGradients(_ graph: Graph) -> Bool {
    guard let program = graph.program("train_step") else { return false }
    return program.outputs.contains { $0.name == "loss" }
      && !program.outputs.contains { $0.name.hasPrefix("grad.") }
      && !program.nodes.contains { $0.op == .adamwUpdate || $0.op == .adamwFlat }
  }

  /// Appends to a program named `gradients` that returns a `loss` (and no gradients yet)
  /// d loss / d p for every trainable parameter, as outputs `grad.<name>`: no optimiser is
  /// lowered into it (the runtime updates the parameters itself, e.g. the linear probe's
  /// SGD). Other graphs pass through.
  static func differentiateGradientsProgram(_ graph: Graph) throws(CompileError) -> Graph {
    guard let program = graph.program("gradients"),
      program.outputs.contains(where: { $0.name == "loss" }),
      !program.outputs.contains(where: { $0.name.hasPrefix("grad.") })
    else { return graph }
    return try differentiate(graph, program: "gradients", wrt: { $0.trainable })
  }

  /// Whether `train_step` carries `grad.*` outputs for the optimiser lowering.
  static func hasGradients(_ graph: Graph) -> Bool {
    graph.program("train_step")?.outputs.contains { $0.name.hasPrefix("grad.") } ?? false
  }

  /// `graph` with its stage set to `name` (passes with nothing to do still mark the stage).
  static func staged(_ graph: Graph, _ name: String) -> Graph {
    var graph = graph
    graph.stage = name
    return graph
  }
}
