import DinoIR
import DinoRandom
import Foundation
import XCTest
import _DinoTestSupport

/// Hand-computed cases for every op family of the reference interpreter.
final class InterpreterTests: XCTestCase {
  private func t(_ shape: [Int], _ data: [Double]) -> ReferenceTensor {
    ReferenceTensor(shape: shape, data: data)
  }

  private func eval(
    _ op: OpKind, _ operands: ReferenceTensor..., attrs: Attributes = [:]
  ) throws -> ReferenceTensor {
    try ReferenceInterpreter.evaluate(op, operands, attrs: attrs)
  }

  private func assertClose(
    _ actual: ReferenceTensor, _ expected: ReferenceTensor, tolerance: Double = 1e-12,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertTrue(
      actual.approximatelyEqual(
        expected, absoluteTolerance: tolerance, relativeTolerance: tolerance),
      "\(actual) != \(expected)", file: file, line: line)
  }

  private func mm(_ ta: Int, _ tb: Int) -> Attributes {
    ["trans_a": .int(ta), "trans_b": .int(tb)]
  }

  func testMatmulWithTransposes() throws {
    let a = t([2, 2], [1, 2, 3, 4])
    let b = t([2, 2], [5, 6, 7, 8])
    assertClose(try eval(.matmul, a, b, attrs: mm(0, 0)), t([2, 2], [19, 22, 43, 50]))
    assertClose(try eval(.matmul, a, b, attrs: mm(1, 0)), t([2, 2], [26, 30, 38, 44]))
    assertClose(try eval(.matmul, a, b, attrs: mm(0, 1)), t([2, 2], [17, 23, 39, 53]))
    assertClose(try eval(.matmul, a, b, attrs: mm(1, 1)), t([2, 2], [23, 31, 34, 46]))
    let wide = t([2, 3], [1, 2, 3, 4, 5, 6])
    let column = t([3, 1], [1, 0, -1])
    assertClose(try eval(.matmul, wide, column, attrs: mm(0, 0)), t([2, 1], [-2, -2]))
    // [2,3]ᵀ · [2,1]: [3,1].
    assertClose(
      try eval(.matmul, wide, t([2, 1], [1, 1]), attrs: mm(1, 0)), t([3, 1], [5, 7, 9]))
  }

  func testBatchedAndSharedMatmul() throws {
    let a = t([2, 1, 2], [1, 2, 3, 4])
    assertClose(
      try eval(.matmul, a, t([2, 2, 1], [1, 1, 2, 0]), attrs: mm(0, 0)), t([2, 1, 1], [3, 6]))
    assertClose(try eval(.matmul, a, t([2, 1], [1, 1]), attrs: mm(0, 0)), t([2, 1, 1], [3, 7]))
    // Shared b transposed: b [1,2] used as [2,1].
    assertClose(
      try eval(.matmul, a, t([1, 2], [1, -1]), attrs: mm(0, 1)), t([2, 1, 1], [-1, -1]))
  }

  func testLinearAndPatchEmbed() throws {
    let x = t([1, 2], [1, 2])
    let w = t([3, 2], [1, 0, 0, 1, 1, 1])
    let b = t([3], [10, 20, 30])
    assertClose(try eval(.linear, x, w, b), t([1, 3], [11, 22, 33]))

    let image = ReferenceTensor(shape: [1, 2, 4, 4]) { Double($0) }
    var kernel = ReferenceTensor(shape: [1, 2, 2, 2])
    kernel[[0, 1, 0, 1]] = 1  // picks x[c=1, 2r, 2s+1]
    let y = try eval(.patchEmbed, image, kernel, t([1], [0.5]), attrs: ["patch": .int(2)])
    assertClose(y, t([1, 4, 1], [17.5, 19.5, 25.5, 27.5]))
  }

  func testPatchifyOrdering() throws {
    let image = ReferenceTensor(shape: [1, 2, 4, 4]) { Double($0) }
    let y = try eval(.patchify, image, attrs: ["patch": .int(2)])
    assertClose(
      y,
      t(
        [1, 4, 8],
        [
          0, 1, 4, 5, 16, 17, 20, 21,
          2, 3, 6, 7, 18, 19, 22, 23,
          8, 9, 12, 13, 24, 25, 28, 29,
          10, 11, 14, 15, 26, 27, 30, 31,
        ]))
    // patch_embed(x, w, b) == linear(patchify(x), w.reshape(D, C·p·p), b).
    let w = ReferenceTensor.random(shape: [3, 2, 2, 2], seed: 1)
    let b = ReferenceTensor.random(shape: [3], seed: 2)
    assertClose(
      try eval(.patchEmbed, image, w, b, attrs: ["patch": .int(2)]),
      try eval(.linear, y, w.reshaped([3, 8]), b), tolerance: 1e-12)
  }

  func testBroadcastingArithmetic() throws {
    let a = t([2, 3], [1, 2, 3, 4, 5, 6])
    assertClose(try eval(.add, a, t([3], [10, 20, 30])), t([2, 3], [11, 22, 33, 14, 25, 36]))
    assertClose(
      try eval(.add, a, t([2, 1], [100, 200])), t([2, 3], [101, 102, 103, 204, 205, 206]))
    assertClose(try eval(.sub, a, t([1, 3], [1, 1, 1])), t([2, 3], [0, 1, 2, 3, 4, 5]))
    assertClose(try eval(.mul, a, ReferenceTensor(scalar: 2)), t([2, 3], [2, 4, 6, 8, 10, 12]))
    assertClose(try eval(.div, a, t([3], [1, 2, 4])), t([2, 3], [1, 1, 0.75, 4, 2.5, 1.5]))
    assertClose(
      try eval(.scale, a, attrs: ["factor": .float(-0.5)]),
      t([2, 3], [-0.5, -1, -1.5, -2, -2.5, -3]))
    XCTAssertThrowsError(try eval(.add, t([3], [1, 2, 3]), t([2, 3], [1, 2, 3, 4, 5, 6])))
  }

  func testGeluAtKnownValues() throws {
    let y = try eval(.gelu, t([4], [0, 1, -1, 2]))
    // Φ(1) = 0.8413447460685429, Φ(2) = 0.9772498680518208.
    assertClose(y, t([4], [0, 0.8413447460685429, -0.15865525393145707, 1.9544997361036416]))
  }

  func testLayerNorm() throws {
    let x = t([2, 4], [1, 2, 3, 4, 2, 2, 2, 2])
    let gamma = t([4], [1, 2, 1, 1])
    let beta = t([4], [0, 0, 0, 1])
    let y = try eval(.layerNorm, x, gamma, beta, attrs: ["eps": .float(0.75)])
    // Row 0: μ = 2.5, σ² = 1.25, √(σ² + 0.75) = √2. Row 1: σ² = 0, so y = beta.
    let s = 2.0.squareRoot()
    assertClose(y, t([2, 4], [-1.5 / s, -1 / s, 0.5 / s, 1.5 / s + 1, 0, 0, 0, 1]))
  }

  func testSoftmaxAndLogSoftmax() throws {
    let x = t([2, 3], [0, log(2), log(3), 1000, 1000 + log(2), 1000 + log(3)])
    let expected = t([2, 3], [1.0 / 6, 1.0 / 3, 0.5, 1.0 / 6, 1.0 / 3, 0.5])
    assertClose(try eval(.softmax, x), expected)
    assertClose(try eval(.logSoftmax, x), ReferenceInterpreter.map(expected, log), tolerance: 1e-10)
  }

  func testL2NormalizeAndWeightNorm() throws {
    let eps: Attributes = ["eps": .float(1e-12)]
    assertClose(
      try eval(.l2Normalize, t([3, 2], [3, 4, 0, 0, 1e-13, 0]), attrs: eps),
      t([3, 2], [0.6, 0.8, 0, 0, 0.1, 0]))
    let w = try eval(.weightNorm, t([2, 2], [3, 4, 0, 2]), t([2, 1], [2, 3]))
    assertClose(w, t([2, 2], [1.2, 1.6, 0, 3]))
  }

  func testShapeOps() throws {
    let left = t([2, 1], [1, 2])
    let right = t([2, 2], [3, 4, 5, 6])
    let joined = try eval(.concat, left, right, attrs: ["axis": .int(1)])
    assertClose(joined, t([2, 3], [1, 3, 4, 2, 5, 6]))
    assertClose(try eval(.concat, left, left, attrs: ["axis": .int(0)]), t([4, 1], [1, 2, 1, 2]))
    assertClose(
      try eval(.slice, joined, attrs: ["axis": .int(1), "start": .int(1), "end": .int(3)]),
      t([2, 2], [3, 4, 5, 6]))
    assertClose(
      try eval(.slice, joined, attrs: ["axis": .int(0), "start": .int(1), "end": .int(2)]),
      t([1, 3], [2, 5, 6]))
    assertClose(
      try eval(
        .pad, t([2], [7, 8]), attrs: ["axis": .int(0), "before": .int(1), "after": .int(2)]),
      t([5], [0, 7, 8, 0, 0]))
    assertClose(
      try eval(.pad, left, attrs: ["axis": .int(1), "before": .int(1), "after": .int(0)]),
      t([2, 2], [0, 1, 0, 2]))
    assertClose(
      try eval(.permute, joined, attrs: ["perm": .ints([1, 0])]), t([3, 2], [1, 2, 3, 5, 4, 6]))
    let cube = ReferenceTensor(shape: [2, 3, 4]) { Double($0) }
    let turned = try eval(.permute, cube, attrs: ["perm": .ints([2, 0, 1])])
    XCTAssertEqual(turned.shape, [4, 2, 3])
    XCTAssertEqual(turned[[3, 1, 2]], cube[[1, 2, 3]])
    assertClose(
      try eval(.reshape, joined, attrs: ["shape": .ints([3, 2])]), t([3, 2], [1, 3, 4, 2, 5, 6]))
    assertClose(
      try eval(.broadcastTo, t([3], [1, 2, 3]), attrs: ["shape": .ints([2, 3])]),
      t([2, 3], [1, 2, 3, 1, 2, 3]))
    assertClose(
      try eval(.broadcastTo, t([2, 1], [1, 2]), attrs: ["shape": .ints([2, 2])]),
      t([2, 2], [1, 1, 2, 2]))
  }

  func testReductionsAndSumTo() throws {
    let x = t([2, 3], [1, 2, 3, 4, 5, 6])
    func reduce(_ op: OpKind, _ axis: Int, _ keep: Int) throws -> ReferenceTensor {
      try eval(op, x, attrs: ["axis": .int(axis), "keepdims": .int(keep)])
    }
    assertClose(try reduce(.reduceSum, 0, 0), t([3], [5, 7, 9]))
    assertClose(try reduce(.reduceSum, 1, 1), t([2, 1], [6, 15]))
    assertClose(try reduce(.reduceMean, 1, 0), t([2], [2, 5]))
    assertClose(try reduce(.reduceMean, 0, 1), t([1, 3], [2.5, 3.5, 4.5]))
    func sumTo(_ shape: [Int]) throws -> ReferenceTensor {
      try eval(.sumTo, x, attrs: ["shape": .ints(shape)])
    }
    assertClose(try sumTo([3]), t([3], [5, 7, 9]))
    assertClose(try sumTo([1, 3]), t([1, 3], [5, 7, 9]))
    assertClose(try sumTo([2, 1]), t([2, 1], [6, 15]))
    assertClose(try sumTo([]), ReferenceTensor(scalar: 21))
    assertClose(try sumTo([2, 3]), x)
  }

  func testClipGradCoef() throws {
    let g = t([2], [3, 4])
    assertClose(
      try eval(.clipGradCoef, g, attrs: ["max_norm": .float(1)]),
      ReferenceTensor(scalar: 1 / (5 + 1e-6))
    )
    assertClose(
      try eval(.clipGradCoef, g, attrs: ["max_norm": .float(10)]), ReferenceTensor(scalar: 1))
  }

  /// adamw_update, ema_update and assign through a program, so the buffers change in place.
  private func optimiserProgram() throws -> Program {
    var b = ProgramBuilder(name: "train_step")
    let p = b.parameter("student.w", [2])
    let g = b.input("g", [2])
    let m = b.parameter("adam_m.w", [2], trainable: false)
    let v = b.parameter("adam_v.w", [2], trainable: false)
    let step = b.parameter("adam_step.w", [], trainable: false)
    let lr = b.input("lr", [])
    let wd = b.input("wd", [])
    let gate = b.input("gate", [])
    let attrs: Attributes = [
      "beta1": .float(0.9), "beta2": .float(0.999), "eps": .float(1e-8), "decay": .int(1),
    ]
    try b.op(.adamwUpdate, p, g, m, v, step, lr, wd, gate, attrs: attrs)
    // A read after the update sees the new weights.
    b.output("after", try b.op(.scale, p, attrs: ["factor": .float(1)]))
    return b.program
  }

  func testAdamWOneStepByHand() throws {
    var buffers: [String: ReferenceTensor] = [
      "student.w": t([2], [1, -2]), "adam_m.w": t([2], [0, 0]), "adam_v.w": t([2], [0, 0]),
      "adam_step.w": ReferenceTensor(scalar: 0),
    ]
    let inputs: [String: ReferenceTensor] = [
      "g": t([2], [0.5, -1]), "lr": ReferenceTensor(scalar: 0.1),
      "wd": ReferenceTensor(scalar: 0.5),
      "gate": ReferenceTensor(scalar: 1),
    ]
    let out = try ReferenceInterpreter.run(
      try optimiserProgram(), inputs: inputs, buffers: &buffers)
    // t = 1: p·(1 − 0.05); m = 0.1·g; v = 0.001·g²; lr/(1 − 0.9) = 1; √v/√0.001 = |g|.
    let expected = t([2], [0.95 - 0.05 / (0.5 + 1e-8), -1.9 + 0.1 / (1 + 1e-8)])
    assertClose(buffers["student.w"]!, expected)
    assertClose(buffers["adam_m.w"]!, t([2], [0.05, -0.1]))
    assertClose(buffers["adam_v.w"]!, t([2], [0.00025, 0.001]))
    assertClose(buffers["adam_step.w"]!, ReferenceTensor(scalar: 1))
    assertClose(out["after"]!, expected)

    // Second step, gate 0: nothing moves.
    var gated = inputs
    gated["gate"] = ReferenceTensor(scalar: 0)
    let before = buffers
    _ = try ReferenceInterpreter.run(try optimiserProgram(), inputs: gated, buffers: &buffers)
    XCTAssertEqual(buffers, before)
  }

  func testEmaAndAssign() throws {
    var b = ProgramBuilder(name: "ema")
    let teacher = b.parameter("teacher.w", [2])
    let student = b.parameter("student.w", [2])
    let momentum = b.input("momentum", [])
    try b.op(.emaUpdate, teacher, student, momentum)
    let copy = b.parameter("teacher.copy", [2])
    try b.op(.assign, copy, teacher)
    var buffers: [String: ReferenceTensor] = [
      "teacher.w": t([2], [1, 2]), "student.w": t([2], [3, 6]), "teacher.copy": t([2], [0, 0]),
    ]
    _ = try ReferenceInterpreter.run(
      b.program, inputs: ["momentum": ReferenceTensor(scalar: 0.75)], buffers: &buffers)
    assertClose(buffers["teacher.w"]!, t([2], [1.5, 3]))
    assertClose(buffers["teacher.copy"]!, t([2], [1.5, 3]))
    assertClose(buffers["student.w"]!, t([2], [3, 6]))
  }

  func testCounterRNGMatchesSplitMix64() {
    // The published first output of SplitMix64 from state 0.
    XCTAssertEqual(CounterRandom.splitmix64(0), 0xE220_A839_7B1D_CDAF)
    let h = CounterRandom.hash(7, 1, 2, 0)
    let mix = CounterRandom.splitmix64
    XCTAssertEqual(h, mix(mix(mix(mix(7) ^ 1) ^ 2) ^ 0))
    XCTAssertEqual(CounterRandom.kernelUniform01(UInt64.max), 1 - 0x1p-24)
  }

  func testDropPathMaskStatistics() throws {
    let rate = 0.25
    let batch = 4000
    let attrs: Attributes = ["rate": .float(rate), "stream": .int(3), "batch": .int(batch)]
    let mask = try eval(.dropPathMask, ReferenceTensor(scalar: 12345), attrs: attrs)
    XCTAssertEqual(mask.shape, [batch])
    XCTAssertTrue(mask.data.allSatisfy { $0 == 0 || $0 == 1 / (1 - rate) })
    let keepRate = Double(mask.data.filter { $0 != 0 }.count) / Double(batch)
    // σ = √(0.75·0.25/4000) ≈ 0.0068; allow 4σ.
    XCTAssertEqual(keepRate, 1 - rate, accuracy: 0.028)
    XCTAssertEqual(mask.data.reduce(0, +) / Double(batch), 1, accuracy: 0.04)
    // Deterministic in (seed, stream), different across streams and seeds; entry i is the
    // hash of (seed, stream, i, 0).
    XCTAssertEqual(try eval(.dropPathMask, ReferenceTensor(scalar: 12345), attrs: attrs), mask)
    var other = attrs
    other["stream"] = .int(4)
    XCTAssertNotEqual(try eval(.dropPathMask, ReferenceTensor(scalar: 12345), attrs: other), mask)
    XCTAssertNotEqual(try eval(.dropPathMask, ReferenceTensor(scalar: -1), attrs: attrs), mask)
    for i in [0, 17, 3999] {
      let u = CounterRandom.kernelUniform01(CounterRandom.hash(12345, 3, UInt64(i), 0))
      XCTAssertEqual(mask.data[i] != 0, u < 0.75, "entry \(i)")
    }
    XCTAssertThrowsError(try eval(.dropPathMask, ReferenceTensor(scalar: 0.5), attrs: attrs))
  }

  func testProgramRunsLeavesAndOutputs() throws {
    var b = ProgramBuilder()
    let x = b.input("x", [2, 2])
    let w = b.parameter("student.w", [2, 2])
    let c = try b.constant([1, 1], [2])
    let y = try b.op(.matmul, x, w, attrs: mm(0, 1))
    let z = try b.op(.add, y, c)
    b.output("z", z)
    b.output("w", w)
    var buffers = ["student.w": t([2, 2], [1, 0, 0, 2])]
    let out = try ReferenceInterpreter.run(
      b.program, inputs: ["x": t([2, 2], [1, 2, 3, 4])], buffers: &buffers)
    assertClose(out["z"]!, t([2, 2], [2, 5, 4, 9]))
    assertClose(out["w"]!, buffers["student.w"]!)
    let values = try ReferenceInterpreter.values(
      b.program, inputs: ["x": t([2, 2], [1, 2, 3, 4])], buffers: &buffers)
    XCTAssertEqual(values.count, 5)
    assertClose(values[y.index], t([2, 2], [1, 4, 3, 8]))
    XCTAssertNoThrow(try Verifier.verify(b.graph))
  }

  func testClearErrors() throws {
    var b = ProgramBuilder()
    let x = b.input("x", [2, 3])
    let w = b.parameter("student.w", [3, 3])
    b.output("y", try b.op(.matmul, x, w, attrs: mm(0, 0)))
    var buffers = ["student.w": ReferenceTensor(shape: [3, 3])]
    func message(_ inputs: [String: ReferenceTensor], _ buffers: inout [String: ReferenceTensor])
      -> String
    {
      do {
        _ = try ReferenceInterpreter.run(b.program, inputs: inputs, buffers: &buffers)
        return "no error"
      } catch {
        return error.message
      }
    }
    XCTAssertEqual(message([:], &buffers), "@forward %0 input: input 'x' was not given")
    XCTAssertEqual(
      message(["x": ReferenceTensor(shape: [3, 2])], &buffers),
      "@forward %0 input: input 'x' has shape [3,2], declared f32[2,3]")
    var empty: [String: ReferenceTensor] = [:]
    XCTAssertEqual(
      message(["x": ReferenceTensor(shape: [2, 3])], &empty),
      "@forward %1 parameter: buffer 'student.w' is missing")
    var wrong = ["student.w": ReferenceTensor(shape: [4, 3])]
    XCTAssertEqual(
      message(["x": ReferenceTensor(shape: [2, 3])], &wrong),
      "@forward %1 parameter: buffer 'student.w' has shape [4,3], declared f32[3,3]")
    XCTAssertThrowsError(try b.op(.matmul, x, x, attrs: mm(0, 0))) { error in
      XCTAssertEqual(
        (error as? ReferenceError)?.message, "matmul: [2,3] x [2,3] — inner dimensions differ")
    }
    XCTAssertThrowsError(try b.op(.matmul, x, w)) { error in
      XCTAssertEqual((error as? ReferenceError)?.message, "matmul: missing attribute 'trans_a'")
    }
    // A stored type that lies is caught before evaluation.
    var broken = b.program
    broken.nodes[2].type = TensorType(.f32, [2, 2])
    XCTAssertThrowsError(
      try ReferenceInterpreter.run(
        broken, inputs: ["x": ReferenceTensor(shape: [2, 3])], buffers: &buffers)
    ) { error in
      XCTAssertEqual(
        (error as? ReferenceError)?.message,
        "@forward %2 matmul: stored type f32[2,2] differs from f32[2,3] computed from the operands")
    }
  }

  func testEffectOnANonParameterAndUnknownProgram() throws {
    var b = ProgramBuilder(name: "ema")
    let target = b.input("t", [2])
    try b.op(.assign, target, b.input("s", [2]))
    var buffers: [String: ReferenceTensor] = [:]
    let inputs = ["t": ReferenceTensor(shape: [2]), "s": ReferenceTensor(shape: [2])]
    XCTAssertThrowsError(try ReferenceInterpreter.run(b.program, inputs: inputs, buffers: &buffers))
    { error in
      XCTAssertEqual(
        (error as? ReferenceError)?.message,
        "@ema %2 assign: operand 0 (%0) must be a parameter: it is updated in place")
    }
    XCTAssertThrowsError(
      try ReferenceInterpreter.run(b.graph, program: "train_step", inputs: [:], buffers: &buffers)
    ) { error in
      XCTAssertEqual((error as? ReferenceError)?.message, "the graph has no program @train_step")
    }
  }

  func testInitialBuffers() throws {
    var b = ProgramBuilder()
    b.parameter("student.a", [2, 3], init: "uniform(-0.5,0.5)")
    b.parameter("student.b", [4], init: "const(2.5)")
    b.parameter("teacher.a", [2, 3], init: "copy(student.a)")
    b.parameter("student.c", [1000], init: "trunc_normal(1,-2,2)")
    let buffers = try ReferenceInterpreter.initialBuffers(for: b.graph, seed: 9)
    XCTAssertTrue(buffers["student.a"]!.data.allSatisfy { (-0.5...0.5).contains($0) })
    XCTAssertEqual(buffers["student.b"], ReferenceTensor(shape: [4], repeating: 2.5))
    XCTAssertEqual(buffers["teacher.a"], buffers["student.a"])
    let c = buffers["student.c"]!.data
    XCTAssertTrue(c.allSatisfy { abs($0) <= 2 })
    XCTAssertEqual(c.reduce(0, +) / 1000, 0, accuracy: 0.1)
    XCTAssertEqual(try ReferenceInterpreter.initialBuffers(for: b.graph, seed: 9), buffers)
    XCTAssertNotEqual(try ReferenceInterpreter.initialBuffers(for: b.graph, seed: 10), buffers)
  }
}
