import DinoIR

/// `program` with every `gelu_bwd(matmul(a, b), h)` whose matmul is read by nothing else
/// computed by one `matmul_gelu_bwd(a, b, h)` (the matmul's flags kept): the GEMM that
/// produces GELU's incoming gradient (the backward of the next linear, dY·W) multiplies each
/// block by GELU's derivative at h in its epilogue, so the plain gradient is never stored.
/// The fused node sits where the `gelu_bwd` was (h is defined by then); it keeps the
/// matmul's location and lists the gelu_bwd's in `absorbed`. The epilogue computes each
/// element with gelu_bwd's own formula, so the values are bitwise the same.
func fuseMatmulGeluBwd(_ program: Program) -> Program {
  let users = program.users()
  let outputs = Set(program.outputs.map(\.value.index))
  var matmulOf: [Int: Int] = [:]  // gelu_bwd node → the matmul it absorbs
  for (index, node) in program.nodes.enumerated() where node.op == .geluBwd {
    let g = node.operands[0].index
    guard program.nodes[g].op == .matmul, users[g].map(\.index) == [index],
      !outputs.contains(g), node.operands[1].index != g
    else { continue }
    matmulOf[index] = g
  }
  if matmulOf.isEmpty { return program }
  var replacement: [Int: ((ValueID) -> ValueID) -> Node] = [:]
  for (index, g) in matmulOf {
    let (matmul, geluBwd) = (program.nodes[g], program.nodes[index])
    replacement[index] = { rename in
      var node = matmul
      node.op = .matmulGeluBwd
      node.operands = (matmul.operands + [geluBwd.operands[1]]).map(rename)
      node.type = geluBwd.type
      node.isBackward = geluBwd.isBackward
      (node.loc, node.absorbed) = fusedLocations(matmul.loc, [geluBwd.loc])
      return node
    }
  }
  return program.rebuilt(dropping: Set(matmulOf.values), replacing: replacement)
}
