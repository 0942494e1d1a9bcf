import ArgumentParser
import DinoFileGuard
import DinoIR
import DinoPasses
import DinoPlan
import Foundation

extension DinocCommand {
  /// `dinoc compile model.swift -o plan.bin [-D key=value]…`.
  struct Compile: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Compile model.swift into plan.bin.",
      discussion: """
        model.swift is compiled with swiftc against the DinoDSL library and then run, like \
        SwiftPM runs Package.swift; it writes its graph to dinoc on a private file descriptor. \
        It runs as ordinary code with your rights, without a sandbox. Compiled models are \
        cached in ${XDG_CACHE_HOME:-~/.cache}/dinoc. Environment: DINOC_DSL_LIBS (the folder \
        of libDinoDSL.so and its modules), DINOC_SWIFTC (the compiler).
        """)

    /// The model description.
    @Argument(help: "The model.swift file.")
    var model: String

    /// Where the plan goes.
    @Option(name: .shortAndLong, help: "Write the plan to this file.")
    var output: String?

    /// Option overrides.
    @Option(
      name: .customShort("D"),
      help: ArgumentHelp("Override an Option of model.swift.", valueName: "name=value"))
    var defines: [String] = []

    /// The verified graph as JSON, for debugging.
    @Option(
      help: ArgumentHelp(
        "Also write the verified graph (wire JSON) to this file.", valueName: "path"))
    var emitGraphJSON: String?

    /// Skip the model cache.
    @Flag(help: "Neither reuse nor store the compiled model executable.")
    var noCache = false

    /// Keep the per-tensor optimiser and EMA (skip the `flatten` pass).
    @Flag(help: "Keep one adamw_update / ema_update per tensor (skip the flatten pass).")
    var perTensorOptimizer = false

    /// Write plans larger than the machine's memory.
    @Flag(help: "Write the plan even when it needs more memory than this machine has.")
    var allowLarge = false

    /// Keep the unfused pipeline.
    @Flag(help: "Skip fusion: the fuse pass leaves the graph as it is (to compare plans).")
    var noFuse = false

    /// The memory the plan may need, as written (`700M`, `1.5G`, bytes).
    @Option(
      help: ArgumentHelp(
        "Fit the plan under this size (all arenas + persistent buffers + input staging, as "
          + "'wrote … memory' prints; binary units: 700M, 1.5G, 800MiB, or bytes) by "
          + "recomputing activations in the backward; refused when nothing fits.",
        valueName: "size"))
    var memoryLimit: String?

    /// Keep every activation for the backward (no recompute at all).
    @Flag(
      help: ArgumentHelp(
        "Recompute nothing: keep every activation for the backward (by default the "
          + "compiler recomputes the cheapest ones, within 0.5% of the step's FLOPs)."))
    var noRecompute = false

    /// The model's time limit.
    @Option(help: "Seconds model.swift may run before it is stopped.")
    var timeout: Double = 120

    func validate() throws {
      for define in defines {
        guard let eq = define.firstIndex(of: "="), eq != define.startIndex else {
          throw ValidationError("-D expects name=value, got '\(define)'")
        }
      }
      if !(timeout > 0) { throw ValidationError("--timeout must be positive") }
    }

    func run() throws {
      let compiler = ModelCompiler(
        sourcePath: model, defines: defines, useCache: !noCache, timeout: timeout)
      do {
        try checkArguments()
        try checkRecomputeOptions(hasMemoryLimit: memoryLimit != nil, recomputing: !noRecompute)
        let limit = try memoryLimit.map(parseMemoryLimit)
        let graph = try compiler.compile()
        if let emitGraphJSON { try writeGraphJSON(graph, to: emitGraphJSON) }
        if let output {
          let needs = try emitPlan(
            graph, source: model, to: output, allowLarge: allowLarge, fusing: !noFuse,
            skipping: perTensorOptimizer ? ["flatten"] : [], memoryLimit: limit,
            recomputing: !noRecompute)
          print("wrote \(output): memory \(needs.memory.description)")
          if let recompute = needs.recompute { print(recompute) }
        }
        if output == nil && emitGraphJSON == nil {
          throw DinocError("\(model) compiles, but nothing was written: give -o plan.bin")
        }
      } catch {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        throw ExitCode.failure
      }
    }
  }
}

extension DinocCommand.Compile {
  /// Refuses a repeated `-D` name, and outputs that would overwrite model.swift or each
  /// other, or that name a folder, before anything is compiled.
  func checkArguments() throws(DinocError) {
    var seen: [Substring: String] = [:]
    for define in defines {
      let name = define.prefix { $0 != "=" }
      if let earlier = seen[name] {
        throw DinocError("-D \(name) is given twice (-D \(earlier), -D \(define)): keep one")
      }
      seen[name] = define
    }
    var outputs = OutputGuard()
    outputs.reads(file: model, as: "model")
    do {
      if let output { try outputs.check(output: output, as: "-o") }
      if let emitGraphJSON { try outputs.check(output: emitGraphJSON, as: "--emit-graph-json") }
    } catch {
      throw DinocError(error.message)
    }
  }
}

/// The bytes of a `--memory-limit` value.
/// - Throws: `DinocError` naming the option and what sizes look like.
func parseMemoryLimit(_ text: String) throws(DinocError) -> Int {
  do {
    return try MemorySize.parse(text)
  } catch {
    throw DinocError("--memory-limit: \(error)")
  }
}

/// Writes `graph` in the wire format (sorted keys), which `Graph(wire:)` reads back.
/// - Parameters:
///   - graph: the graph.
///   - path: the file to write.
/// - Throws: `DinocError` when the file cannot be written.
func writeGraphJSON(_ graph: Graph, to path: String) throws(DinocError) {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.sortedKeys]
  encoder.nonConformingFloatEncodingStrategy = .convertToString(
    positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
  do {
    try encoder.encode(Wire.Module(graph)).write(to: URL(fileURLWithPath: path), options: .atomic)
  } catch {
    throw DinocError("cannot write \(path): \(error.localizedDescription)")
  }
}

/// Runs the compiler pipeline on `graph`, records provenance and writes plan.bin to `path`.
/// - Parameters:
///   - graph: the verified graph from model.swift.
///   - source: the model.swift path, whose bytes are hashed into the plan's metadata.
///   - path: where plan.bin goes.
///   - allowLarge: write a plan that needs more than the machine's physical memory.
///   - fusing: run the `fuse` pass (`false`: `--no-fuse`).
///   - skipping: passes not to run (`flatten` for `--per-tensor-optimizer`).
///   - memoryLimit: the bytes the plan may need (`--memory-limit`), `nil` for no limit.
///   - recomputing: `false` for `--no-recompute` (no recompute at all).
/// - Returns: the memory the plan needs at run time, and the recompute summary line when
///   the compiler recomputes (the cheap default, or to fit the limit).
/// - Throws: `DinocError` carrying the pass's or writer's diagnostic, or refusing a plan
///   larger than the machine's memory.
@discardableResult
func emitPlan(
  _ graph: Graph, source: String, to path: String, allowLarge: Bool = false, fusing: Bool = true,
  skipping: Set<String> = [], memoryLimit: Int? = nil, recomputing: Bool = true
) throws(DinocError) -> (memory: PlanMemoryNeeds, recompute: String?) {
  var planned: Graph
  do {
    planned = try Pipeline.run(
      graph, fusing: fusing, skipping: skipping, memoryLimit: memoryLimit,
      recomputing: recomputing)
  } catch {
    throw DinocError(lines: error.description.split(separator: "\n").map(String.init))
  }
  planned.metadata[PlanFormat.compilerVersionKey] = "dinoc \(dinocVersion)"
  if let bytes = FileManager.default.contents(atPath: source) {
    var hash = SHA256()
    hash.update(bytes)
    planned.metadata[PlanFormat.sourceHashKey] = "sha256:" + hash.finalize()
  }
  let needs = PlanMemoryNeeds(planned)
  if !allowLarge, let physical = MachineMemory.physical, needs.total > physical {
    throw DinocError(
      "the plan needs \(needs.description), more than this machine's "
        + "\(MachineMemory.text(physical)) of memory; nothing was written: shrink the model "
        + "(-D …) or pass --allow-large to write it for a larger machine")
  }
  do {
    try PlanWriter.write(planned, to: path)
  } catch {
    throw DinocError("\(error)")
  }
  return (needs, recomputeSummary(planned))
}
