import DinoIR

/// Removes the nodes no program result depends on.
///
/// A node is kept when it is a program output, an effect op (`adamw_update`, `ema_update`,
/// `assign`: its purpose is its side effect), an `input` (the program's interface stays what
/// the runtime feeds, even when a value goes unused), an operand of a kept node, or a `result`
/// of a kept node with several results (its kernel writes them all); a parameter is also
/// kept when its program reads its whole region (a live `region` leaf). Kept nodes
/// keep their relative order and are renumbered densely; outputs are remapped. Memory plans
/// are dropped (set again by `planMemory`). Sets `graph.stage = "dead_code"`.
/// - Parameter graph: a verified graph; it is not modified.
/// - Returns: the graph without dead nodes.
/// - Throws: `CompileError` when an operand or output names an undefined value.
public func eliminateDeadCode(_ graph: Graph) throws(CompileError) -> Graph {
  var result = graph
  for (p, program) in graph.programs.enumerated() {
    var live = Array(repeating: false, count: program.nodes.count)
    for output in program.outputs {
      guard output.value.index >= 0 && output.value.index < program.nodes.count else {
        throw CompileError(
          "dead_code: output '\(output.name)' of @\(program.name) names undefined \(output.value)")
      }
      live[output.value.index] = true
    }
    for index in program.nodes.indices.reversed() {
      let node = program.nodes[index]
      if node.op.isEffect || node.op == .input { live[index] = true }
      guard live[index] else { continue }
      for operand in try program.checkedOperands(of: index, pass: "dead_code") {
        live[operand] = true
      }
    }
    // A kept node with several results keeps all of them: its kernel writes each one.
    for (index, node) in program.nodes.enumerated()
    where node.op == .result && node.operands.count == 1 && live[node.operands[0].index] {
      live[index] = true
    }
    // A live `region` leaf reads every buffer of its region: their parameter nodes stay,
    // so the persistent layout the flat ops' segment tables index stays the same.
    let regions = Set(
      program.nodes.indices.filter { live[$0] && program.nodes[$0].op == .region }
        .map { program.nodes[$0].attrs.string("name") })
    for index in program.nodes.indices
    where !live[index] && program.nodes[index].op == .parameter {
      let region = program.nodes[index].attrs.string("name").split(separator: ".").first
      if let region, regions.contains(String(region)) { live[index] = true }
    }
    result.programs[p] = program.reordered(program.nodes.indices.filter { live[$0] })
  }
  result.stage = "dead_code"
  return result
}
