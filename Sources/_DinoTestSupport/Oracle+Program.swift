import DinoIR

/// A kernel case as a one-op program, what the reference interpreter and the IR tests run.
public struct OneOpProgram {
  /// Leaves `%0…%(n−1)` (one per operand), the op at `%n`, then a `result {index=k}` node
  /// per extra result; its outputs are `y` and `y1`, `y2`, … (none for an effect op).
  public var program: Program
  /// The value of every `input` leaf, by name (`x<i>`).
  public var inputs: [String: ReferenceTensor]
  /// The value of every `parameter` leaf (the mutated operands), by buffer name (`x<i>`).
  public var buffers: [String: ReferenceTensor]
  /// The op's node index.
  public var opIndex: Int { program.nodes.count - 1 - extraResults }
  /// How many extra results follow the op.
  public var extraResults: Int
}

extension KernelCase {
  /// The case as a one-op program: mutated operands are `parameter` leaves over named
  /// buffers (`student.x<i>`, trainable when `trainable` says so), the others `input`
  /// leaves (i32 where the op's `i32_in` column says so), the slots become the named
  /// attributes of the op's schema, and a `result` node follows for each extra result.
  /// - Parameter parameters: operands that are `parameter` leaves besides the mutated ones.
  /// - Throws: `ReferenceError` when the op's shape rule refuses the case.
  public func oneOpProgram(parameters: Set<Int> = []) throws(ReferenceError) -> OneOpProgram {
    let attrs = attributes
    var nodes: [Node] = []
    var inputs: [String: ReferenceTensor] = [:]
    var buffers: [String: ReferenceTensor] = [:]
    let asParameter = Set(op.mutatedOperands).union(parameters)
    for (i, shape) in shapes.enumerated() {
      let type = TensorType(op.operandDType(i), shape)
      if asParameter.contains(i) {
        let name = "student.x\(i)"
        buffers[name] = operand(i)
        let trainable = parameters.contains(i) ? 1 : 0
        let leafAttrs: Attributes = [
          "name": .string(name), "init": .string("zeros"), "trainable": .int(trainable),
        ]
        nodes.append(Node(.parameter, attrs: leafAttrs, type: type))
      } else {
        inputs["x\(i)"] = operand(i)
        nodes.append(Node(.input, attrs: ["name": .string("x\(i)")], type: type))
      }
    }
    let operandTypes = nodes.map(\.type)
    let resultType: TensorType
    do {
      resultType = try op.resultType(operandTypes, attrs)
    } catch {
      throw ReferenceError("\(op.name): \(error.message)")
    }
    let extraTypes = op.extraResultTypes(operandTypes, attrs)
    let opIndex = nodes.count
    nodes.append(Node(op, (0..<opIndex).map(ValueID.init), attrs: attrs, type: resultType))
    var outputs: [ProgramOutput] = []
    if !op.isEffect { outputs.append(ProgramOutput(name: "y", value: ValueID(opIndex))) }
    for (k, type) in extraTypes.enumerated() {
      outputs.append(ProgramOutput(name: "y\(k + 1)", value: ValueID(nodes.count)))
      nodes.append(
        Node(.result, [ValueID(opIndex)], attrs: ["index": .int(k + 1)], type: type))
    }
    return OneOpProgram(
      program: Program(name: "forward", nodes: nodes, outputs: outputs), inputs: inputs,
      buffers: buffers, extraResults: extraTypes.count)
  }
}
