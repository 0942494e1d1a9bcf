import ArgumentParser
import DinoFileGuard
import DinoIR
import DinoPasses
import DinoPlan
import Foundation

extension DinocCommand {
  /// `dinoc dump PATH [--after PASS] [--memory] [--schedules]`: the IR as text at any stage.
  struct Dump: ParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Print the IR of a plan.bin, a model.swift (at any pipeline stage) or an .ir file.",
      discussion: """
        plan.bin prints the planned programs with arena offsets. model.swift is compiled and \
        run through the pipeline, up to --after PASS when given (passes: \
        \(Pipeline.passNames.joined(separator: ", "))). An .ir file is parsed, verified and \
        printed back (or run through the pipeline up to --after PASS).
        """)

    /// What to print.
    @Argument(help: "A plan.bin, model.swift or .ir file.")
    var path: String

    /// Stop the pipeline after this pass.
    @Option(help: ArgumentHelp("Stop after this pass (model.swift and .ir).", valueName: "pass"))
    var after: String?

    /// Keep the unfused pipeline.
    @Flag(help: "Skip fusion (as dinoc compile --no-fuse).")
    var noFuse = false

    /// The memory limit, as `dinoc compile --memory-limit`.
    @Option(
      help: ArgumentHelp(
        "Compile under this memory limit (as dinoc compile --memory-limit).", valueName: "size"))
    var memoryLimit: String?

    /// No recompute, as `dinoc compile --no-recompute`.
    @Flag(help: "Recompute nothing (as dinoc compile --no-recompute).")
    var noRecompute = false

    /// Append the memory report.
    @Flag(help: "Append arena bytes, the liveness lower bound and the largest lifetimes.")
    var memory = false

    /// Print the training schedules.
    @Flag(help: "Print the lr, weight decay, momentum and teacher temperature schedules.")
    var schedules = false

    /// Steps per epoch for --schedules.
    @Option(help: "Iterations per epoch for --schedules (images / batch, drop_last).")
    var iterationsPerEpoch: Int = 1

    /// Overrides for model.swift.
    @Option(
      name: .customShort("D"),
      help: ArgumentHelp("Override an Option of model.swift.", valueName: "name=value"))
    var defines: [String] = []

    func validate() throws {
      if let after, !Pipeline.passNames.contains(after) {
        throw ValidationError(
          "unknown pass '\(after)' (passes: \(Pipeline.passNames.joined(separator: ", ")))")
      }
      if iterationsPerEpoch < 1 { throw ValidationError("--iterations-per-epoch must be ≥ 1") }
    }

    func run() throws {
      do {
        try checkRecomputeOptions(hasMemoryLimit: memoryLimit != nil, recomputing: !noRecompute)
        let graph = try load()
        if schedules {
          let table = try TrainingSchedules(
            hyper: graph.hyper, iterationsPerEpoch: iterationsPerEpoch)
          print(table.table())
          if !memory { return }
        } else {
          print(printIR(graph), terminator: "")
        }
        if memory { print(memoryReport(graph)) }
      } catch let error as CompileError {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        throw ExitCode.failure
      } catch let error as PlanError {
        FileHandle.standardError.write(Data("error: \(error)\n".utf8))
        throw ExitCode.failure
      } catch let error as DinocError {
        FileHandle.standardError.write(Data("\(error)\n".utf8))
        throw ExitCode.failure
      }
    }

    /// The graph to print: a plan as stored, or a model/IR file through the pipeline.
    private func load() throws -> Graph {
      /// `graph` through the pipeline up to `--after`, with the compile options.
      func runPipeline(_ graph: Graph) throws -> Graph {
        let limit = try memoryLimit.map(parseMemoryLimit)
        return try Pipeline.run(
          graph, stopAfter: after, fusing: !noFuse, memoryLimit: limit,
          recomputing: !noRecompute)
      }
      if path.hasSuffix(".swift") {
        return try runPipeline(try ModelCompiler(sourcePath: path, defines: defines).compile())
      }
      if path.hasSuffix(".ir") {
        var info = stat()
        if stat(path, &info) == 0, info.st_mode & S_IFMT != S_IFREG {
          throw DinocError(
            "\(path) is a \(FileKindName.of(mode: info.st_mode)), not an .ir file")
        }
        guard let data = FileManager.default.contents(atPath: path),
          let text = String(data: data, encoding: .utf8)
        else { throw DinocError("cannot read \(path)") }
        let graph = try parseIR(text, fileName: path)
        if after != nil { return try runPipeline(graph) }
        try Verifier.verify(graph)
        for program in graph.programs where program.arenaBytes != nil {
          if let problem = memoryProblems(program).first {
            throw DinocError("\(path): unsound memory plan: \(problem)")
          }
        }
        return graph
      }
      return try PlanReader.read(contentsOf: path)
    }
  }
}
