import CDinoKernels
import DinoRandom
import XCTest

/// A deterministic random source (SplitMix64) for test shapes and data.
struct TestRNG {
  var stream: SplitMix64

  init(seed: UInt64) { stream = SplitMix64(seed: seed) }

  mutating func next() -> UInt64 { stream.next() }

  /// A uniform integer in `range`.
  mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + Int(next() % UInt64(range.count))
  }

  /// A uniform float in [lo, hi).
  mutating func float(_ lo: Float, _ hi: Float) -> Float {
    lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
  }

  /// A coin flip.
  mutating func bool() -> Bool { next() & 1 == 1 }

  /// One element of `items`.
  mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }
}

/// How large a drawn case is: tiny (extents 1–5), odd medium sizes, or large enough
/// (≥ 2^15 elements, ≥ 2^20 GEMM flops) to take the multi-threaded paths.
enum SizeClass: CaseIterable {
  case tiny, medium, large

  /// An extent for this class; medium and large draws are odd-heavy (not multiples of 8).
  func extent(_ rng: inout TestRNG) -> Int {
    switch self {
    case .tiny: return rng.int(1...5)
    case .medium: return rng.int(7...40) | 1
    case .large: return rng.int(150...260) | 1
    }
  }
}

/// One instruction to run: operand shapes and data, attributes, the result shape.
struct KernelCase {
  var op: dino_op
  var shapes: [[Int]]
  var data: [[Float]]
  var iattr: [Int64] = []
  var fattr: [Float] = []
  var out: [Int]
  /// Operands holding i32 data (their Float arrays carry the i32 bit patterns).
  var int32Operands: Set<Int> = []
  /// The shapes of results 1, 2, … of an op with several results (their tensors follow
  /// the result's in the table, as the `result` nodes follow their producer).
  var extraOuts: [[Int]] = []

  /// Makes a case whose operand data comes from `fill(operand, &rng)` per element.
  init(
    _ op: dino_op, _ shapes: [[Int]], out: [Int], iattr: [Int64] = [], fattr: [Float] = [],
    rng: inout TestRNG, fill: (Int, inout TestRNG) -> Float = { _, r in r.float(-1, 1) }
  ) {
    self.op = op
    self.shapes = shapes
    self.out = out
    self.iattr = iattr
    self.fattr = fattr
    data = shapes.enumerated().map { i, s in
      (0..<s.reduce(1, *)).map { _ in fill(i, &rng) }
    }
  }

  /// Whether the op mutates operands (an effect op with a memoryless result).
  var isEffect: Bool { dino_op_traits_of(Int32(op.rawValue)).pointee.mutates != 0 }
}

/// What one run produced: the result and every operand afterwards.
struct KernelRun {
  var out: [Float]
  var operands: [[Float]]
  /// Results 1, 2, … of an op with several results.
  var extras: [[Float]] = []
}

/// The exec failure of a case that should have run.
struct KernelFailure: Error, CustomStringConvertible {
  var description: String
}

/// Runs `c` through dino_exec (or dino_exec_ref) with `threads` OpenMP threads; with
/// `inPlace` the result is written into operand 0's buffer; `rows` is the context's
/// data-parallel row map (zeros: one process).
func runKernel(
  _ c: KernelCase, ref: Bool = false, threads: Int = 1, inPlace: Bool = false,
  rows: dino_row_map = dino_row_map()
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

  var ins = makeInstr(c.op, inputs: Array(0..<c.shapes.count), out: c.shapes.count,
                      iattr: c.iattr, fattr: c.fattr)
  let scratchBytes = tensors.withUnsafeBufferPointer { dino_instr_scratch_bytes(&ins, $0.baseAddress!) }
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
    let rc = ref ? dino_exec_ref(&ins, 1, &ctx) : dino_exec(&ins, 1, &ctx)
    return (rc, errorText(ctx))
  }
  if rc != 0 { throw KernelFailure(description: message) }
  let out = outData.map { Array(UnsafeBufferPointer(start: $0.assumingMemoryBound(to: Float.self), count: outCount)) } ?? []
  let operands = c.shapes.indices.map { i in
    Array(UnsafeBufferPointer(start: buffers[i]!.assumingMemoryBound(to: Float.self), count: c.data[i].count))
  }
  let extras = zip(extraData, c.extraOuts).map { p, shape in
    Array(UnsafeBufferPointer(start: p.assumingMemoryBound(to: Float.self), count: shape.reduce(1, *)))
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
