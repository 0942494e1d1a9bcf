import CDinoKernels
import DinoIR
import _DinoTestSupport

/// What the Swift Double reference (`ReferenceInterpreter`, the one test oracle) computes
/// for `c`, rounded to `Float`: the result, every operand afterwards (an effect op's
/// mutated operands updated) and the extra results of an op with several results.
///
/// The case becomes a one-op program: mutated operands are `parameter` leaves over named
/// buffers, the others `input` leaves (i32 where the op's `i32_in` column says so, holding
/// the bit pattern the kernel reads), the op's int and float slots become its named
/// attributes by its schema, and a `result {index=k}` node follows for each extra result.
func referenceRun(_ c: KernelCase) throws -> KernelRun {
  let op: OpKind = c.op
  let attrs = attributes(of: op, ints: c.iattr, floats: c.fattr)
  var nodes: [Node] = []
  var inputs: [String: ReferenceTensor] = [:]
  var buffers: [String: ReferenceTensor] = [:]
  let mutated = Set(op.mutatedOperands)
  for (i, shape) in c.shapes.enumerated() {
    let dtype = op.operandDType(i)
    let values = c.data[i].map { v in
      dtype == .i32 ? Double(Int32(bitPattern: v.bitPattern)) : Double(v)
    }
    let name = "x\(i)"
    let type = TensorType(dtype, shape)
    if mutated.contains(i) {
      buffers[name] = ReferenceTensor(shape: shape, data: values)
      nodes.append(
        Node(
          .parameter,
          attrs: ["name": .string(name), "init": .string("zeros"), "trainable": .int(0)],
          type: type))
    } else {
      inputs[name] = ReferenceTensor(shape: shape, data: values)
      nodes.append(Node(.input, attrs: ["name": .string(name)], type: type))
    }
  }
  let operandTypes = nodes.map(\.type)
  let resultType: TensorType
  let extraTypes: [TensorType]
  do {
    resultType = try op.resultType(operandTypes, attrs)
    extraTypes = op.extraResultTypes(operandTypes, attrs)
  } catch {
    throw KernelFailure(description: "\(op.name): \(error.message)")
  }
  let opIndex = nodes.count
  nodes.append(Node(op, (0..<opIndex).map(ValueID.init), attrs: attrs, type: resultType))
  for (k, type) in extraTypes.enumerated() {
    nodes.append(Node(.result, [ValueID(opIndex)], attrs: ["index": .int(k + 1)], type: type))
  }
  let values: [ReferenceTensor]
  do {
    values = try ReferenceInterpreter.values(
      Program(name: "kernel", nodes: nodes), inputs: inputs, buffers: &buffers)
  } catch {
    throw KernelFailure(description: "reference: \(error)")
  }
  let operands = c.shapes.indices.map { i in
    mutated.contains(i) ? buffers["x\(i)"]!.floats : c.data[i]
  }
  return KernelRun(
    out: op.isEffect ? [] : values[opIndex].floats, operands: operands,
    extras: values[(opIndex + 1)...].map(\.floats))
}

/// The named attributes of `op` held by kernel slots: its schema's ints (an int list takes
/// the remaining int slots) and floats, in order; a slot beyond the given ones reads 0.
func attributes(of op: OpKind, ints: [Int64], floats: [Float]) -> Attributes {
  var attrs: Attributes = [:]
  var nextInt = 0, nextFloat = 0
  for spec in op.attrSchema {
    switch spec.kind {
    case .int:
      attrs[spec.name] = .int(nextInt < ints.count ? Int(ints[nextInt]) : 0)
      nextInt += 1
    case .ints:
      attrs[spec.name] = .ints(ints.dropFirst(nextInt).map { Int($0) })
      nextInt = ints.count
    case .float:
      attrs[spec.name] = .float(nextFloat < floats.count ? Double(floats[nextFloat]) : 0)
      nextFloat += 1
    case .string, .floats:
      break
    }
  }
  return attrs
}
