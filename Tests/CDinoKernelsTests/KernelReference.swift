import CDinoKernels
import DinoIR
import _DinoTestSupport

/// What the Swift Double reference (`ReferenceInterpreter`, the one test oracle) computes
/// for `c`, rounded to `Float`: the result, every operand afterwards (an effect op's
/// mutated operands updated) and the extra results of an op with several results. The
/// case runs as its one-op program (`KernelCase.oneOpProgram`).
func referenceRun(_ c: KernelCase) throws -> KernelRun {
  let one = try c.oneOpProgram()
  var buffers = one.buffers
  let values = try ReferenceInterpreter.values(
    one.program, inputs: one.inputs, buffers: &buffers)
  let mutated = Set(c.op.mutatedOperands)
  let operands = c.shapes.indices.map { i in
    mutated.contains(i) ? buffers["student.x\(i)"]!.floats : c.data[i]
  }
  return KernelRun(
    out: c.op.isEffect ? [] : values[one.opIndex].floats, operands: operands,
    extras: values[(one.opIndex + 1)...].map(\.floats))
}
