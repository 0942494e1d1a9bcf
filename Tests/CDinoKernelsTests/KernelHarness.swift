import CDinoKernels
import DinoIR
import XCTest
import _DinoTestSupport

/// What one run produced: the result and every operand afterwards.
struct KernelRun {
  var out: [Float]
  var operands: [[Float]]
  /// Results 1, 2, … of an op with several results.
  var extras: [[Float]] = []

  /// The bit patterns of the result and of results 1, 2, …, for bitwise comparisons.
  var resultBits: [[UInt32]] { ([out] + extras).map { $0.map(\.bitPattern) } }
}

/// The exec failure of a case that should have run.
struct KernelFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs `c` through dino_exec with `threads` OpenMP threads; with `inPlace` the result is
/// written into operand 0's buffer; `rows` is the context's data-parallel row map (zeros:
/// one process). `referenceRun(_:)` gives what it should compute.
func runKernel(
  _ c: KernelCase, threads: Int = 1, inPlace: Bool = false, rows: dino_row_map = dino_row_map()
) throws -> KernelRun {
  var buffers: [UnsafeMutableRawPointer?] = []
  defer { for b in buffers { b?.deallocate() } }
  var tensors: [dino_tensor] = []
  for (i, shape) in c.shapes.enumerated() {
    let bytes = max(4, c.data[i].count * 4)
    let p = UnsafeMutableRawPointer.allocate(byteCount: bytes, alignment: 64)
    c.data[i].withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    buffers.append(p)
    tensors.append(makeTensor(p, shape, int32: c.int32Operands.contains(i)))
  }
  let outCount = c.out.reduce(1, *)
  var outData: UnsafeMutableRawPointer? = nil
  if inPlace {
    outData = buffers[0]
  } else if !c.isEffect {
    outData = UnsafeMutableRawPointer.allocate(byteCount: max(4, outCount * 4), alignment: 64)
    outData!.initializeMemory(as: Float.self, repeating: .nan, count: outCount)
    buffers.append(outData)
  }
  tensors.append(makeTensor(outData, c.out, int32: false))
  var extraData: [UnsafeMutableRawPointer] = []
  for shape in c.extraOuts {
    let count = shape.reduce(1, *)
    let p = UnsafeMutableRawPointer.allocate(byteCount: max(4, count * 4), alignment: 64)
    p.initializeMemory(as: Float.self, repeating: .nan, count: count)
    buffers.append(p)
    extraData.append(p)
    tensors.append(makeTensor(p, shape, int32: false))
  }

  var ins = makeInstr(
    c.op, inputs: Array(0..<c.shapes.count), out: c.shapes.count,
    iattr: c.iattr, fattr: c.fattr)
  let scratchBytes = tensors.withUnsafeBufferPointer {
    dino_instr_scratch_bytes(&ins, $0.baseAddress!)
  }
  let scratch = UnsafeMutableRawPointer.allocate(byteCount: max(64, scratchBytes), alignment: 64)
  defer { scratch.deallocate() }

  dino_set_num_threads(Int32(threads))
  let (rc, message) = tensors.withUnsafeMutableBufferPointer { table -> (Int32, String) in
    var ctx = dino_exec_ctx()
    ctx.tensors = table.baseAddress
    ctx.n_tensors = Int32(table.count)
    ctx.scratch = scratch
    ctx.scratch_bytes = scratchBytes
    ctx.rows = rows
    let rc = dino_exec(&ins, 1, &ctx)
    return (rc, errorText(ctx))
  }
  if rc != 0 { throw KernelFailure(description: message) }
  let out =
    outData.map {
      Array(UnsafeBufferPointer(start: $0.assumingMemoryBound(to: Float.self), count: outCount))
    } ?? []
  let operands = c.shapes.indices.map { i in
    Array(
      UnsafeBufferPointer(
        start: buffers[i]!.assumingMemoryBound(to: Float.self), count: c.data[i].count))
  }
  let extras = zip(extraData, c.extraOuts).map { p, shape in
    Array(
      UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: shape.reduce(1, *)))
  }
  return KernelRun(out: out, operands: operands, extras: extras)
}

/// A tensor record over `data` with `shape`.
func makeTensor(_ data: UnsafeMutableRawPointer?, _ shape: [Int], int32: Bool) -> dino_tensor {
  var t = dino_tensor()
  t.data = data
  t.dtype = Int32(int32 ? DINO_I32 : DINO_F32)
  t.rank = Int32(shape.count)
  withUnsafeMutableBytes(of: &t.shape) { raw in
    let s = raw.bindMemory(to: Int64.self)
    for (d, e) in shape.enumerated() { s[d] = Int64(e) }
  }
  return t
}

/// An instruction record.
func makeInstr(
  _ op: dino_op, inputs: [Int], out: Int, iattr: [Int64] = [], fattr: [Float] = []
) -> dino_instr {
  var ins = dino_instr()
  ins.op = Int32(op.rawValue)
  ins.n_in = Int32(inputs.count)
  ins.out = Int32(out)
  withUnsafeMutableBytes(of: &ins.in) { raw in
    let s = raw.bindMemory(to: Int32.self)
    for (i, v) in inputs.enumerated() { s[i] = Int32(v) }
  }
  withUnsafeMutableBytes(of: &ins.iattr) { raw in
    let s = raw.bindMemory(to: Int64.self)
    for (i, v) in iattr.enumerated() { s[i] = v }
  }
  withUnsafeMutableBytes(of: &ins.fattr) { raw in
    let s = raw.bindMemory(to: Float.self)
    for (i, v) in fattr.enumerated() { s[i] = v }
  }
  return ins
}

/// ctx.error as a String.
func errorText(_ ctx: dino_exec_ctx) -> String {
  withUnsafeBytes(of: ctx.error) { raw in
    String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
  }
}

/// The first elements where |actual − expected| > atol + rtol·|expected| (NaN never
/// matches), as readable lines; empty when all agree.
func mismatches(
  _ actual: [Float], _ expected: [Float], atol: Float, rtol: Float, limit: Int = 4
) -> [String] {
  if actual.count != expected.count { return ["count \(actual.count) != \(expected.count)"] }
  var lines: [String] = []
  var bad = 0
  for i in actual.indices {
    let a = actual[i], e = expected[i]
    let ok = a == e || abs(a - e) <= atol + rtol * abs(e)
    if !ok {
      bad += 1
      if lines.count < limit { lines.append("[\(i)] \(a) vs \(e)") }
    }
  }
  if bad > limit { lines.append("… \(bad) mismatches of \(actual.count)") }
  return lines
}

/// Whether two runs are bitwise identical (results and operands).
func bitwiseEqual(_ x: KernelRun, _ y: KernelRun) -> Bool {
  func bits(_ v: [Float]) -> [UInt32] { v.map(\.bitPattern) }
  return bits(x.out) == bits(y.out) && x.operands.map(bits) == y.operands.map(bits)
}
