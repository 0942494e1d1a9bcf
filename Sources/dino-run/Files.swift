import DinoFileGuard
import DinoIR
import DinoOps
import DinoPlan
import DinoRuntime

/// Reads the compiled plan at `path`; a missing or damaged file is the plan error's line,
/// and so is a hyper-parameter outside its range (`HyperParameterRanges`).
func loadPlan(_ path: String) throws(RuntimeError) -> Graph {
  let graph: Graph
  do {
    graph = try PlanReader.read(contentsOf: path)
  } catch {
    throw RuntimeError(error.description)
  }
  if let problem = HyperParameterRanges.problems(graph.hyper).first {
    throw RuntimeError("\(path): hyper-parameter \(problem.message); recompile the plan")
  }
  return graph
}

/// Reads a safetensors file; a failure is the reader's line.
func readTensors(_ path: String) throws(RuntimeError) -> SafeTensors {
  do {
    return try SafeTensors.read(contentsOf: path)
  } catch {
    throw RuntimeError(error.message)
  }
}

/// Writes a safetensors file; a failure is the writer's line.
func writeTensors(_ file: SafeTensors, to path: String) throws(RuntimeError) {
  do {
    try file.write(to: path)
  } catch {
    throw RuntimeError(error.message)
  }
}

/// Checks a command's outputs against its inputs before any work (`OutputGuard`); a
/// refusal is one `RuntimeError` line.
func checkOutputs(
  _ body: (inout OutputGuard) throws(OutputGuardError) -> Void
) throws(RuntimeError) {
  var outputs = OutputGuard()
  do {
    try body(&outputs)
  } catch {
    throw RuntimeError(error.message)
  }
}
