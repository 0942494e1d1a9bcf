import DinoIR
import DinoRuntime
import Foundation

/// Which network's weights an evaluation program (`features`, `attention`) runs with.
public enum BackboneSource: String, Sendable, CaseIterable {
  /// The EMA teacher (`teacher.*`), what official DINO evaluates.
  case teacher
  /// The student (`student.*`), loaded into the program's `teacher.*` slots: the two
  /// networks share one architecture, so `teacher.x` ← `student.x`.
  case student
}

/// A runtime holding one program of a planned graph whose parameters all come from a
/// weights file: their init specs (the teacher's `copy(student.*)`) are replaced by `zeros`,
/// since they would name buffers the runtime does not hold.
/// - Parameters:
///   - graph: the planned graph.
///   - program: the program to keep.
///   - threads: kernel threads.
/// - Throws: one line when the plan has no such program.
func singleProgramRuntime(_ graph: Graph, program name: String, threads: Int) throws(RuntimeError)
  -> Runtime
{
  guard let index = graph.programIndex(name) else {
    let known = graph.programs.map { "@\($0.name)" }.joined(separator: ", ")
    throw RuntimeError(
      "the plan has no @\(name) program (it has \(known.isEmpty ? "none" : known)); "
        + "compile a DINO model")
  }
  var program = graph.programs[index]
  for i in program.nodes.indices where program.nodes[i].op == .parameter {
    program.nodes[i].attrs["init"] = .string("zeros")
  }
  var only = graph
  only.programs = [program]
  return try Runtime(graph: only, threads: threads)
}

/// Loads every buffer of `runtime` (all `teacher.*`) from the file at `path`, taking
/// `student.*` tensors instead when `source` is `.student`.
/// - Parameters:
///   - purpose: what the weights are for, for the message of a file without them
///     (e.g. "k-NN uses the teacher backbone").
/// - Throws: one line for a missing file, a file without the network's weights, or a
///   tensor missing or mis-shaped.
func loadBackboneWeights(
  into runtime: Runtime, contentsOf path: String, source: BackboneSource, purpose: String
) throws(RuntimeError) {
  guard FileManager.default.fileExists(atPath: path) else {
    throw RuntimeError("checkpoint '\(path)' does not exist")
  }
  let file: SafeTensors
  do {
    file = try SafeTensors.read(contentsOf: path)
  } catch {
    throw RuntimeError(error.message)
  }
  let needed = runtime.bufferNames
  let prefix = source.rawValue + "."
  func fileName(_ buffer: String) -> String {
    source == .teacher ? buffer : prefix + buffer.dropFirst("teacher.".count)
  }
  let missing = needed.filter { file.tensors[fileName($0)] == nil }
  if !missing.isEmpty {
    let present = file.tensors.keys.filter { $0.hasPrefix(prefix) }.count
    throw RuntimeError(
      present == 0
        ? "\(path) has no \(source) weights (\(prefix)*): \(purpose)"
        : "\(path) lacks \(missing.count) of the \(needed.count) \(source) tensors "
          + "the program reads, e.g. '\(fileName(missing[0]))'")
  }
  var tensors: [String: HostTensor] = [:]
  for name in needed { tensors[name] = file.tensors[fileName(name)] }
  try runtime.loadBuffers(SafeTensors(tensors: tensors), required: needed, source: path)
}

/// The one input `image` `f32[B,C,G,G]` (square) of `program`, or one line saying what the
/// program must take.
func squareImageInput(_ runtime: Runtime, program: String) throws(RuntimeError)
  -> (name: String, type: TensorType)
{
  let inputs = try runtime.inputs(of: program)
  guard let image = inputs.first(where: { $0.name == "image" }), inputs.count == 1,
    image.type.dtype == .f32, image.type.rank == 4, image.type.shape[2] == image.type.shape[3]
  else {
    throw RuntimeError("@\(program) must take one input 'image' f32[B,C,G,G]")
  }
  return image
}
