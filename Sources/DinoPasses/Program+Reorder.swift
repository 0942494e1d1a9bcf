import DinoIR

extension Program {
  /// The operand indices of node `index`, checked to name earlier nodes.
  /// - Throws: `CompileError` at the node's location when an operand is not defined before it
  ///   (passes expect a verified graph; this keeps a broken one from trapping).
  func checkedOperands(of index: Int, pass: String) throws(CompileError) -> [Int] {
    let node = nodes[index]
    var result: [Int] = []
    result.reserveCapacity(node.operands.count)
    for operand in node.operands {
      guard operand.index >= 0 && operand.index < index else {
        throw CompileError(
          "\(pass): operand \(operand) of %\(index) is not defined before it", at: node.loc,
          notes: ["in %\(index) of @\(name)"])
      }
      result.append(operand.index)
    }
    return result
  }

  /// A program holding the nodes `order` (old indices, each at most once, operands before
  /// users) renumbered densely in that order, with operands and outputs remapped. Memory
  /// slots and the arena size are dropped: a new order invalidates any plan.
  func reordered(_ order: [Int]) -> Program {
    var newIndex = Array(repeating: -1, count: nodes.count)
    for (position, old) in order.enumerated() { newIndex[old] = position }
    var result = Program(name: name)
    result.nodes.reserveCapacity(order.count)
    for old in order {
      var node = nodes[old]
      node.operands = node.operands.map { ValueID(newIndex[$0.index]) }
      node.slot = nil
      result.nodes.append(node)
    }
    result.outputs = outputs.map {
      ProgramOutput(name: $0.name, value: ValueID(newIndex[$0.value.index]))
    }
    return result
  }
}
