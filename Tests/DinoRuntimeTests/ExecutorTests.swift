import DinoIR
import DinoRandom
import DinoRuntime
import XCTest
import _DinoTestSupport

/// The executor on hand-built planned graphs: effect ops on persistent buffers, inputs and
/// outputs, and refusal of graphs and calls it cannot serve.
final class ExecutorTests: XCTestCase {
  /// `adamw_update` on a [6] parameter with gradients from an input.
  func adamGraph(decay: Int) throws -> Graph {
    var p = ProgramBuilder(name: "train_step")
    let g = p.input("g", [6])
    let lr = p.input("lr", [])
    let wd = p.input("wd", [])
    let gate = p.input("last_layer_gate", [])
    let w = p.parameter("student.w", [6], init: "uniform(-1,1)")
    let m = p.parameter("adam_m.student.w", [6], init: "zeros", trainable: false)
    let v = p.parameter("adam_v.student.w", [6], init: "zeros", trainable: false)
    let t = p.parameter("adam_step.student.w", [], init: "zeros", trainable: false)
    let norm = try p.op(
      .reduceSum, try p.op(.mul, g, g), attrs: ["axis": .int(0), "keepdims": .int(0)])
    _ = try p.op(
      .adamwUpdate, w, g, m, v, t, lr, wd, gate,
      attrs: [
        "beta1": .float(0.9), "beta2": .float(0.999), "eps": .float(1e-8), "decay": .int(decay),
      ])
    p.output("gnorm2", norm)
    return planEachValueApart(Graph(programs: [p.program]))
  }

  func testAdamWMatchesFormula() throws {
    for threads in [1, 2] {
      let runtime = try Runtime(graph: try adamGraph(decay: 1), threads: threads)
      try runtime.initializeParameters(seed: 5)
      var p = Array(try runtime.buffer("student.w")).map(Double.init)
      var m = [Double](repeating: 0, count: 6)
      var v = m
      let (lr, wd, b1, b2, eps) = (0.01, 0.05, 0.9, 0.999, 1e-8)
      for step in 1...3 {
        let g = randomFloats(6, seed: UInt64(step))
        try runtime.setInput("g", g)
        try runtime.setScalar("lr", Float(lr))
        try runtime.setScalar("wd", Float(wd))
        try runtime.setScalar("last_layer_gate", 1)
        try runtime.run("train_step")
        for i in 0..<6 {
          let gi = Double(g[i])
          p[i] *= 1 - Double(Float(lr)) * Double(Float(wd))
          m[i] = b1 * m[i] + (1 - b1) * gi
          v[i] = b2 * v[i] + (1 - b2) * gi * gi
          let mHat = m[i] / (1 - pow(b1, Double(step)))
          p[i] -=
            Double(Float(lr)) * mHat / ((v[i] / (1 - pow(b2, Double(step)))).squareRoot() + eps)
        }
        assertClose(Array(try runtime.buffer("student.w")), p, atol: 1e-6, "p step \(step)")
        assertClose(Array(try runtime.buffer("adam_m.student.w")), m, atol: 1e-7, "m step \(step)")
        assertClose(Array(try runtime.buffer("adam_v.student.w")), v, atol: 1e-8, "v step \(step)")
        XCTAssertEqual(Array(try runtime.buffer("adam_step.student.w")), [Float(step)])
        assertClose(
          try runtime.output("gnorm2"), [g.reduce(0) { $0 + Double($1) * Double($1) }], "gnorm2")
      }
      // Gate 0: nothing moves.
      let frozen = try runtime.bufferNames.map { Array(try runtime.buffer($0)) }
      try runtime.setScalar("last_layer_gate", 0)
      try runtime.run("train_step")
      XCTAssertEqual(try runtime.bufferNames.map { Array(try runtime.buffer($0)) }, frozen)
    }
  }

  func testEmaAndAssign() throws {
    var p = ProgramBuilder(name: "ema")
    let momentum = p.input("momentum", [])
    let s = p.parameter("student.w", [5], init: "uniform(-1,1)")
    let t = p.parameter("teacher.w", [5], init: "zeros", trainable: false)
    _ = try p.op(.emaUpdate, t, s, momentum)
    let c = p.parameter("center", [5], init: "ones", trainable: false)
    _ = try p.op(.assign, c, try p.op(.scale, s, attrs: ["factor": .float(2)]))
    let runtime = try Runtime(graph: planEachValueApart(Graph(programs: [p.program])))
    try runtime.initializeParameters(seed: 2)
    let student = Array(try runtime.buffer("student.w")).map(Double.init)
    var teacher = [Double](repeating: 0, count: 5)
    for _ in 0..<2 {
      try runtime.setScalar("momentum", 0.75)
      try runtime.run("ema")
      teacher = zip(teacher, student).map { 0.75 * $0 + 0.25 * $1 }
    }
    assertClose(Array(try runtime.buffer("teacher.w")), teacher, "teacher")
    assertClose(Array(try runtime.buffer("center")), student.map { 2 * $0 }, "center")
    assertClose(
      Array(try runtime.buffer("student.w")), student, atol: 0, rtol: 0, "student unchanged")
  }

  /// Two programs declaring inputs `x` with different shapes and `s` with one shape.
  func twoProgramGraph() throws -> Graph {
    var a = ProgramBuilder(name: "a")
    let xa = a.input("x", [2, 3])
    let sa = a.input("s", [3])
    a.output("y", try a.op(.add, xa, sa))
    var b = ProgramBuilder(name: "b")
    let xb = b.input("x", [4])
    let k = try b.constant([1, 2, 3, 4], [4])
    let sb = b.input("s", [3])
    b.output("y", try b.op(.mul, xb, k))
    b.output("s2", try b.op(.scale, sb, attrs: ["factor": .float(-1)]))
    var c = ProgramBuilder(name: "c")
    let seed = c.input("seed", [], dtype: .i32)
    c.output(
      "mask",
      try c.op(
        .dropPathMask, seed, attrs: ["rate": .float(0.5), "stream": .int(3), "batch": .int(8)]))
    return planEachValueApart(Graph(programs: [a.program, b.program, c.program]))
  }

  func testInputsSharedByNameAndType() throws {
    let runtime = try Runtime(graph: try twoProgramGraph())
    XCTAssertEqual(try runtime.inputs(of: "b").map(\.name), ["x", "s"])
    XCTAssertEqual(
      try runtime.outputs(of: "b").map(\.type), [TensorType(.f32, [4]), TensorType(.f32, [3])])
    assertError(try runtime.setInput("x", [1, 2, 3, 4]), contains: "input 'x' has several types")
    try runtime.setInput("x", [1, 2, 3, 4, 5, 6], program: "a")
    try runtime.setInput("x", [1, 1, 1, 1], program: "b")
    try runtime.setInput("s", [10, 20, 30])  // one type: shared by @a and @b
    try runtime.run("a")
    try runtime.run("b")
    XCTAssertEqual(try runtime.output("y", program: "a"), [11, 22, 33, 14, 25, 36])
    XCTAssertEqual(try runtime.output("y"), [1, 2, 3, 4])
    XCTAssertEqual(
      try runtime.outputTensor("s2", program: "b"), HostTensor(shape: [3], floats: [-10, -20, -30]))

    try runtime.setInput("seed", ints: [42])
    try runtime.run("c")
    let mask = try runtime.output("mask")
    XCTAssertEqual(mask.count, 8)
    XCTAssertTrue(mask.allSatisfy { $0 == 0 || $0 == 2 })
    // The mask follows IR/CONTRACT.md's RNG: keep iff uniform01(dino_hash(seed, stream, i, 0)) < 1 − rate.
    XCTAssertEqual(
      mask, (0..<8).map { referenceKeep(seed: 42, stream: 3, index: UInt64($0), rate: 0.5) ? 2 : 0 }
    )
  }

  func testInputAndOutputErrors() throws {
    let runtime = try Runtime(graph: try twoProgramGraph())
    assertError(try runtime.run("nope"), contains: "no program @nope (the plan has @a, @b, @c)")
    assertError(try runtime.run("a"), contains: "input 'x' of @a was not set")
    assertError(try runtime.output("y"), contains: "no program has run yet")
    assertError(
      try runtime.setInput("z", [1]), contains: "the plan has no input 'z' (inputs: s, seed, x)")
    assertError(
      try runtime.setInput("z", [1], program: "a"),
      contains: "@a has no input 'z' (its inputs: x, s)")
    assertError(
      try runtime.setInput("s", [1, 2]), contains: "input 's' is f32[3] (3 values), got 2")
    assertError(
      try runtime.setInput("seed", [1]), contains: "input 'seed' is i32[], got f32 values")
    assertError(
      try runtime.setInput("s", HostTensor(shape: [1, 3], floats: [1, 2, 3])),
      contains: "input 's' is f32[3], got shape [1,3]")
    try runtime.setInput("x", [1, 2, 3, 4, 5, 6], program: "a")
    try runtime.setInput("s", [0, 0, 0])
    try runtime.run("a")
    assertError(try runtime.output("q"), contains: "@a has no output 'q' (its outputs: y)")
    assertError(try runtime.inputs(of: "zz"), contains: "no program @zz")
  }

  func testExecuteChecksInputFile() throws {
    let runtime = try Runtime(graph: try twoProgramGraph())
    let good = SafeTensors(tensors: [
      "x": HostTensor(shape: [2, 3], floats: [1, 2, 3, 4, 5, 6]),
      "s": HostTensor(shape: [3], floats: [1, 1, 1]),
    ])
    let out = try runtime.execute("a", inputs: good)
    XCTAssertEqual(out.tensors, ["y": HostTensor(shape: [2, 3], floats: [2, 3, 4, 5, 6, 7])])
    XCTAssertEqual(out.metadata, ["program": "a"])
    var missing = good
    missing.tensors["s"] = nil
    assertError(
      try runtime.execute("a", inputs: missing, source: "in.st"),
      contains: "in.st has no tensor 's' (input of @a, f32[3])")
    var extra = good
    extra.tensors["w"] = HostTensor(shape: [1], floats: [0])
    assertError(
      try runtime.execute("a", inputs: extra, source: "in.st"),
      contains: "in.st: tensor 'w' is not an input of @a")
    var shaped = good
    shaped.tensors["x"] = HostTensor(shape: [3, 2], floats: [1, 2, 3, 4, 5, 6])
    assertError(
      try runtime.execute("a", inputs: shaped), contains: "input 'x' is f32[2,3], got shape [3,2]")
  }

  func testRefusesUnplannedAndBrokenGraphs() throws {
    var p = ProgramBuilder(name: "p")
    let x = p.input("x", [4])
    p.output("y", try p.op(.gelu, x))
    let unplanned = Graph(programs: [p.program])
    assertError(try Runtime(graph: unplanned), contains: "@p: %1 gelu: has no memory slot")

    var outside = planEachValueApart(unplanned)
    outside.programs[0].nodes[1].slot = MemorySlot(offset: 56, size: 16)
    assertError(try Runtime(graph: outside), contains: "invalid graph:")
    outside.programs[0].nodes[1].slot = MemorySlot(offset: 2, size: 16)
    outside.programs[0].arenaBytes = 64
    assertError(
      try Runtime(graph: outside),
      contains: "@p: %1 gelu: slot at offset 2 (16 bytes) does not hold f32[4]")

    var mistyped = planEachValueApart(unplanned)
    mistyped.programs[0].nodes[1].type = TensorType(.f32, [5])
    assertError(try Runtime(graph: mistyped), contains: "invalid graph:")

    var deep = ProgramBuilder(name: "deep")
    let d = deep.input("d", [1, 1, 1, 1, 1, 1, 2])
    deep.output("y", try deep.op(.gelu, d))
    assertError(
      try Runtime(graph: planEachValueApart(Graph(programs: [deep.program]))),
      contains: "rank 7 exceeds the kernels' limit of 6")
    assertError(
      try Runtime(graph: planEachValueApart(unplanned), threads: 0),
      contains: "thread count must be at least 1")
  }
}

/// IR/CONTRACT.md's drop-path decision, computed here independently of the kernels.
func referenceKeep(seed: UInt64, stream: UInt64, index: UInt64, rate: Double) -> Bool {
  let h = CounterRandom.hash(seed, stream, index, 0)
  return Double(h >> 40) * 0x1p-24 < 1 - rate
}
