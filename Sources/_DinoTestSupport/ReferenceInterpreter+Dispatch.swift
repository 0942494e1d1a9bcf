import DinoIR

extension ReferenceInterpreter.Environment {
  /// The value of `node` given its operand values: leaves and `result` here, every other
  /// op through its oracle row (`OracleRow.reference`, in `Oracle+<family>.swift`). An
  /// effect op's row gives its mutated operands' new values, which update their buffers.
  mutating func compute(_ node: Node, _ x: [ReferenceTensor]) throws(ReferenceError)
    -> ReferenceTensor
  {
    if node.op.isLeaf { return try leaf(node) }
    if node.op == .result {
      let k = node.attrs.int("index")
      guard let producer = node.operands.first,
        let results = extraResults[producer.index], k >= 1, k <= results.count
      else { throw fail("operand has no result \(k)") }
      return results[k - 1]
    }
    guard let row = node.op.oracleRow else {
      throw fail("no oracle row (write one in _DinoTestSupport/Oracle+<family>.swift)")
    }
    let values: [ReferenceTensor]
    do {
      values = try row.reference(x, node.attrs)
    } catch let error as ReferenceError {
      throw fail(error.message)
    } catch {
      throw fail("\(error)")
    }
    if node.op.isEffect {
      let mutated = node.op.mutatedOperands
      guard values.count == mutated.count else {
        throw fail("the reference gave \(values.count) values for \(mutated.count) operands")
      }
      for (k, value) in zip(mutated, values) {
        buffers[try bufferName(ofOperand: k)] = value
      }
      return ReferenceTensor(scalar: 0)
    }
    guard let first = values.first else { throw fail("the reference gave no result") }
    if values.count > 1 { extraResults[index] = Array(values.dropFirst()) }
    return first
  }

  /// The value of a leaf node: an input, a parameter's or region's buffer, a constant.
  mutating func leaf(_ node: Node) throws(ReferenceError) -> ReferenceTensor {
    if node.op == .input { return try input(node) }
    if node.op == .parameter { return try parameter(node) }
    if node.op == .region { return try operand(ValueID(index)) }
    guard node.op == .constant else { throw fail("a leaf the interpreter does not know") }
    let data = node.attrs.floats("data")
    if data.count != node.type.count {
      throw fail("\(data.count) values for type \(node.type)")
    }
    return ReferenceTensor(shape: node.type.shape, floats: data)
  }
}
