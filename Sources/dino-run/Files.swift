import DinoFileGuard
import DinoIR
import DinoPlan
import DinoRuntime

/// Reads the compiled plan at `path`; a missing or damaged file is the plan error's line.
func loadPlan(_ path: String) throws(RuntimeError) -> Graph {
  do {
    return try PlanReader.read(contentsOf: path)
  } catch {
    throw RuntimeError(error.description)
  }
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
