import DinoIR

/// `program` with every `gelu(linear(x, w, b))` computed by one GEMM whose epilogue adds the
/// bias and applies GELU to each block right after its sgemm; the GELU's location goes to
/// `absorbed`. The kernel rounds as linear then gelu do, so the values are bitwise the same.
///
/// Where the pre-activation has another reader (the backward's `gelu_bwd`) it becomes
/// `linear_gelu(x, w, b)`, the pre-activation kept as `result` 1, which replaces the `linear`
/// for those readers. Where the GELU is its only reader (forward-only code: the teacher, the
/// heads' MLPs there, evaluation programs) it becomes `linear_gelu_only(x, w, b)`, one result
/// with GELU applied in place, so the pre-activation is never stored: it holds x and the
/// result at once, where `linear` then `gelu` hold x and the pre-activation, then the
/// pre-activation and the GELU. (Fusing there with `linear_gelu` would hold all three and on
/// fmnist moved the schedule's peak up by 41 MiB, measured.)
func fuseLinearGelu(_ program: Program) -> Program {
  var geluOf: [Int: Int] = [:]  // linear node → the gelu that fuses with it
  var fusedGelu = Set<Int>()
  let users = program.users()
  let outputs = Set(program.outputs.map(\.value.index))
  for (index, node) in program.nodes.enumerated() where node.op == .gelu {
    let source = node.operands[0].index
    guard program.nodes[source].op == .linear, geluOf[source] == nil else { continue }
    geluOf[source] = index
    fusedGelu.insert(index)
  }
  if geluOf.isEmpty { return program }
  var map = Array(repeating: ValueID(-1), count: program.nodes.count)
  var result = Program(name: program.name)
  for (index, original) in program.nodes.enumerated() {
    if fusedGelu.contains(index) { continue }
    var node = original
    node.operands = node.operands.map { map[$0.index] }
    node.slot = nil
    guard let g = geluOf[index] else {
      map[index] = result.append(node)
      continue
    }
    let gelu = program.nodes[g]
    let keepsPreActivation = users[index].count > 1 || outputs.contains(index)
    node.op = keepsPreActivation ? .linearGelu : .linearGeluOnly
    node.type = gelu.type
    node.absorbed = gelu.loc == .unknown || gelu.loc == node.loc ? [] : [gelu.loc]
    if node.loc == .unknown { (node.loc, node.absorbed) = (gelu.loc, []) }
    let fused = result.appendWithResults(node)  // linear_gelu's result 1: the pre-activation
    map[g] = fused
    if keepsPreActivation { map[index] = ValueID(fused.index + 1) }
  }
  result.outputs = program.outputs.map { ProgramOutput(name: $0.name, value: map[$0.value.index]) }
  return result
}
