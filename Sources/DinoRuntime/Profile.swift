import CDinoKernels
import DinoIR
import DinoOps

/// The time one instruction of a profiled run took.
public struct InstructionTiming: Sendable {
  /// The instruction's position in the program's instruction list.
  public var instruction: Int
  /// The node (value number) it computes.
  public var node: Int
  /// Its op.
  public var op: OpKind
  /// Wall-clock seconds it took.
  public var seconds: Double
}

extension Runtime {
  /// Runs program `program` once, one instruction per `dino_exec` call, and times each.
  ///
  /// The results equal those of `run` (the same kernels in the same order); only the
  /// per-call overhead (a shape check and the OpenMP hand-off) is added to each
  /// instruction. `run` itself is untouched and stays allocation-free.
  /// - Returns: one timing per instruction, in execution order.
  /// - Throws: `RuntimeError` as `run` does.
  public func profile(_ program: String) throws(RuntimeError) -> [InstructionTiming] {
    let index = try index(of: program)
    let compiled = programs[index]
    for store in compiled.inputStores where !inputs[store].isSet {
      throw RuntimeError("input '\(inputs[store].name)' of @\(compiled.name) was not set")
    }
    if dino_get_num_threads() != Int32(clamping: threads) {
      dino_set_num_threads(Int32(clamping: threads))
    }
    let nodes = graph.programs[index].nodes
    var timings: [InstructionTiming] = []
    timings.reserveCapacity(compiled.instrCount)
    let clock = ContinuousClock()
    for i in 0..<compiled.instrCount {
      let start = clock.now
      let status = dino_exec(compiled.instrs + i, 1, compiled.context)
      let elapsed = start.duration(to: clock.now)
      let node = compiled.nodeOfInstr[i]
      if status != 0 {
        let detail = withUnsafeBytes(of: &compiled.context.pointee.error) { raw in
          String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        throw RuntimeError(
          "@\(compiled.name): %\(node) \(nodes[node].op.name): "
            + (detail.isEmpty ? "kernel failed" : detail))
      }
      let seconds =
        Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) * 1e-18
      timings.append(
        InstructionTiming(instruction: i, node: node, op: nodes[node].op, seconds: seconds))
    }
    lastRun = index
    return timings
  }
}
