import DinoIR

/// Reverse-mode automatic differentiation of one program's scalar loss.
///
/// Appends to `program` the backward nodes computing d(`loss`)/d(p) for every persistent
/// parameter p selected by `wrt`, and names each gradient as a program output
/// `grad.<parameter name>` (the optimiser lowering consumes them). Gradients flow only
/// through operands marked differentiable in `IR/ops.def`, and only into values that
/// depend on a selected parameter, so the teacher branch and the center are constants.
/// Each differentiable op's vector-Jacobian product is one arm of an exhaustive `switch`
/// (`BackwardEmitter.vjp`), written in forward-style IR ops; a value read by several
/// nodes sums their contributions with `add`. Backward nodes keep their forward node's
/// location and scope and are marked `isBackward`. Sets `graph.stage = "autodiff"`.
///
/// - Parameters:
///   - graph: the captured graph; it is not modified.
///   - program: the program to differentiate (`train_step`).
///   - loss: the output holding the loss, a scalar `f32[]`.
///   - wrt: selects the persistent buffers to differentiate against; by default the
///     trainable student parameters.
/// - Returns: the graph with the backward nodes and `grad.*` outputs appended.
/// - Throws: `CompileError` when the program or loss output is missing, the loss is not
///   a scalar `f32[]` (at the loss's location), no selected parameter reaches the loss,
///   or the program already has an output named `grad.<parameter>`.
public func differentiate(
  _ graph: Graph, program: String = "train_step", loss: String = "loss",
  wrt: (BufferInfo) -> Bool = { $0.region == "student" && $0.trainable }
) throws(CompileError) -> Graph {
  guard let programIndex = graph.programIndex(program) else {
    let names = graph.programs.map { "@\($0.name)" }.joined(separator: ", ")
    throw CompileError(
      "autodiff: no program @\(program) to differentiate",
      notes: ["the graph has \(names.isEmpty ? "no programs" : names)"])
  }
  let forward = graph.programs[programIndex]
  guard let lossOutput = forward.outputs.first(where: { $0.name == loss }) else {
    let names = forward.outputs.map { "'\($0.name)'" }.joined(separator: ", ")
    throw CompileError(
      "autodiff: program @\(program) has no output '\(loss)'",
      notes: ["its outputs are \(names.isEmpty ? "none" : names)"])
  }
  let lossID = lossOutput.value
  guard forward.nodes.indices.contains(lossID.index) else {
    throw CompileError("autodiff: output '\(loss)' of @\(program) names undefined \(lossID)")
  }
  let lossNode = forward[lossID]
  guard lossNode.type == .scalar else {
    throw CompileError(
      "autodiff: the loss '\(loss)' must be a scalar f32[], got \(lossNode.type)",
      at: lossNode.loc)
  }

  let buffers = Dictionary(graph.buffers().map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
  let onPath = gradientPath(
    of: forward, loss: lossID,
    isSelected: { name in buffers[name].map(wrt) ?? false })
  let parameterIDs = (0...lossID.index).filter {
    onPath[$0] && forward.nodes[$0].op == .parameter
  }
  guard !parameterIDs.isEmpty else {
    throw CompileError(
      "loss does not depend on any trainable student parameter", at: lossNode.loc,
      notes: ["differentiating output '\(loss)' of @\(program)"])
  }
  for id in parameterIDs {
    let name = "grad." + forward.nodes[id].attrs.string("name")
    if forward.outputs.contains(where: { $0.name == name }) {
      throw CompileError("autodiff: @\(program) already has an output '\(name)'", at: lossNode.loc)
    }
  }

  var emitter = BackwardEmitter(program: forward)
  var adjoint = [ValueID?](repeating: nil, count: lossID.index + 1)
  emitter.at(lossNode)
  adjoint[lossID.index] = try emitter.emit(
    .constant, [], ["data": .floats([1])], declared: .scalar)

  for index in stride(from: lossID.index, through: 0, by: -1) where onPath[index] {
    let node = forward.nodes[index]
    guard let dy = adjoint[index], node.op != .parameter else { continue }
    emitter.at(node)
    let wanted = node.operands.indices.map {
      node.op.isDifferentiable(operand: $0) && onPath[node.operands[$0].index]
    }
    let emitted = emitter.program.nodes.count
    let contributions = try emitter.vjp(of: node, result: ValueID(index), dy: dy, wanted: wanted)
    try checkBackwardReads(
      of: node, at: index, emitted: emitter.program.nodes[emitted...],
      forwardCount: forward.nodes.count)
    for (operand, gradient) in contributions {
      guard wanted[operand] else {
        throw CompileError(
          "autodiff: internal error: the \(node.op) rule produced an unrequested gradient",
          at: node.loc)
      }
      let target = node.operands[operand].index
      if let sum = adjoint[target] {
        adjoint[target] = try emitter.emit(.add, [sum, gradient])
      } else {
        adjoint[target] = gradient
      }
    }
  }

  var gradients: [(name: String, value: ValueID)] = []
  for id in parameterIDs {
    let node = forward.nodes[id]
    guard let gradient = adjoint[id] else { continue }
    let name = "grad." + node.attrs.string("name")
    if let seen = gradients.firstIndex(where: { $0.name == name }) {
      emitter.at(node)
      gradients[seen].value = try emitter.emit(.add, [gradients[seen].value, gradient])
    } else {
      gradients.append((name, gradient))
    }
  }

  try checkNoReadAfterUpdate(emitter.program, forwardCount: forward.nodes.count)

  var result = graph
  var differentiated = emitter.program
  differentiated.outputs += gradients.map { ProgramOutput(name: $0.name, value: $0.value) }
  result.programs[programIndex] = differentiated
  result.stage = "autodiff"
  return result
}

/// Refuses a VJP rule that reads a forward value its op's `bw_needs` column (ops.def)
/// does not name: `xK` allows operand K, `y` the node's own result.
///
/// - Parameters:
///   - node: the forward node whose rule ran.
///   - index: its value index.
///   - emitted: the backward nodes the rule appended.
///   - forwardCount: the number of forward nodes (lower indices are forward values).
func checkBackwardReads(
  of node: Node, at index: Int, emitted: ArraySlice<Node>, forwardCount: Int
) throws(CompileError) {
  var allowed = Set(
    node.op.backwardReadsOperands.compactMap { k in
      k < node.operands.count ? node.operands[k].index : nil
    })
  if node.op.backwardReadsResult { allowed.insert(index) }
  for backward in emitted {
    for operand in backward.operands
    where operand.index < forwardCount && !allowed.contains(operand.index) {
      throw CompileError(
        "autodiff: internal error: the \(node.op) rule reads \(operand), which bw_needs "
          + "\"\(node.op.backwardNeeds.joined(separator: ","))\" in IR/ops.def does not name",
        at: node.loc)
    }
  }
}

/// Backward nodes come after every forward node, so a persistent buffer that a forward
/// effect op (`assign`, `ema_update`, …) updates would be read with its new value; rejects
/// a backward node that reads such a parameter instead of computing a wrong gradient.
///
/// - Parameters:
///   - program: the program with its backward nodes appended.
///   - forwardCount: the number of forward nodes.
/// - Throws: `CompileError` at the backward node's location, noting the update's location.
func checkNoReadAfterUpdate(_ program: Program, forwardCount: Int) throws(CompileError) {
  var updates: [String: SourceLoc] = [:]
  for node in program.nodes.prefix(forwardCount) where node.op.isEffect {
    for index in node.op.mutatedOperands where index < node.operands.count {
      let target = program[node.operands[index]]
      if let name = target.bufferName, updates[name] == nil { updates[name] = node.loc }
    }
  }
  guard !updates.isEmpty else { return }
  for node in program.nodes.dropFirst(forwardCount) {
    for operand in node.operands {
      guard let name = program[operand].bufferName, let update = updates[name] else { continue }
      throw CompileError(
        "autodiff: the backward \(node.op) here reads '\(name)' after @\(program.name) updates it",
        at: node.loc, notes: ["updated at \(update)"])
    }
  }
}

/// Marks the values of `program` on a differentiable path from a selected parameter to
/// `loss`: values that depend on a selected parameter through differentiable operands
/// and that `loss` depends on through differentiable operands.
///
/// - Parameters:
///   - program: the forward program.
///   - loss: the value being differentiated.
///   - isSelected: whether the persistent buffer with this name is differentiated against.
/// - Returns: one flag per value up to and including `loss`.
func gradientPath(
  of program: Program, loss: ValueID, isSelected: (String) -> Bool
) -> [Bool] {
  let count = loss.index + 1
  var dependsOnParameter = [Bool](repeating: false, count: count)
  for index in 0..<count {
    let node = program.nodes[index]
    if node.op == .parameter {
      dependsOnParameter[index] = isSelected(node.attrs.string("name"))
    } else {
      dependsOnParameter[index] = node.operands.indices.contains {
        node.op.isDifferentiable(operand: $0) && dependsOnParameter[node.operands[$0].index]
      }
    }
  }
  var onPath = [Bool](repeating: false, count: count)
  onPath[loss.index] = dependsOnParameter[loss.index]
  for index in stride(from: loss.index, through: 0, by: -1) where onPath[index] {
    let node = program.nodes[index]
    for (position, operand) in node.operands.enumerated()
    where node.op.isDifferentiable(operand: position) && dependsOnParameter[operand.index] {
      onPath[operand.index] = true
    }
  }
  return onPath
}
