import DinoIR
import DinoPasses
import DinoRandom
import DinoRuntime
import XCTest
import _DinoTestSupport

/// The `flatten` pass (issue 9): one `adamw_flat` and one `ema_flat` over the mirrored
/// regions, gradients computed straight into the `grad` region, against the per-tensor
/// `adamw_update` / `ema_update` lowering the pipeline produced before it.
final class FlatOptimizerTests: XCTestCase {
  /// A student with a weight, a bias, a 1-D norm scale (no decay) and a gated
  /// `last_layer`, a teacher twin of each, and a loss over the student's output.
  static func model(clip: Double) throws -> Graph {
    var p = ProgramBuilder(name: "train_step")
    let x = p.input("x", [5, 6])
    let w = p.parameter("student.fc.weight", [7, 6], init: "trunc_normal(0.5,-1,1)")
    let b = p.parameter("student.fc.bias", [7], init: "uniform(-0.2,0.2)")
    let g = p.parameter("student.norm.weight", [7], init: "uniform(0.5,1.5)")
    let last = p.parameter("student.head.last_layer.weight", [9, 7], init: "normal(0.4)")
    for (name, shape) in [
      ("fc.weight", [7, 6]), ("fc.bias", [7]), ("norm.weight", [7]),
      ("head.last_layer.weight", [9, 7]),
    ] {
      _ = p.parameter("teacher.\(name)", shape, init: "copy(student.\(name))", trainable: false)
    }
    let hidden = try p.op(.gelu, p.op(.linear, x, w, b))
    let scaled = try p.op(.mul, hidden, g)
    let logits = try p.op(.matmul, scaled, last, attrs: ["trans_a": .int(0), "trans_b": .int(1)])
    let logProbs = try p.op(.logSoftmax, p.op(.scale, logits, attrs: ["factor": .float(3)]))
    let picked = try p.op(.reduceMean, logProbs, attrs: ["axis": .int(1), "keepdims": .int(0)])
    let loss = try p.op(
      .scale, p.op(.reduceMean, picked, attrs: ["axis": .int(0), "keepdims": .int(0)]),
      attrs: ["factor": .float(-1)])
    p.output("loss", loss)
    return Graph(programs: [p.program], hyper: ["clip_grad": clip])
  }

  /// The per-tensor plan: every pass but `flatten` (`dinoc compile --per-tensor-optimizer`).
  static func perTensor(_ graph: Graph) throws -> Graph {
    try Pipeline.run(graph, skipping: ["flatten"])
  }

  /// Runs `steps` train steps, each followed by the EMA, and returns every saved buffer;
  /// `prepare` sees the runtime first.
  static func train(
    _ graph: Graph, gates: [Float], threads: Int, prepare: (Runtime) throws -> Void = { _ in }
  ) throws -> [String: [Float]] {
    let runtime = try Runtime(graph: graph, threads: threads)
    try prepare(runtime)
    try runtime.initializeParameters(seed: 11)
    var rng = SplitMix64(seed: 5)
    for (step, gate) in gates.enumerated() {
      try runtime.setInput("x", (0..<30).map { _ in Float(rng.next() >> 40) * 0x1p-23 - 1 })
      try runtime.setScalar("lr", 0.01 * Float(step + 1))
      try runtime.setScalar("wd", 0.04)
      try runtime.setScalar("last_layer_gate", gate)
      try runtime.run("train_step")
      try runtime.setScalar("momentum", 0.9)
      try runtime.run("ema")
    }
    var buffers: [String: [Float]] = [:]
    for name in runtime.bufferNames { buffers[name] = Array(try runtime.buffer(name)) }
    return buffers
  }

  func testFlattenLowersOneAdamWAndOneEMAOverRegions() throws {
    let graph = try Pipeline.run(try Self.model(clip: 0.05))
    let train = try XCTUnwrap(graph.program("train_step"))
    XCTAssertEqual(train.nodes.filter { $0.op == .adamwFlat }.count, 1)
    XCTAssertFalse(train.nodes.contains { [.adamwUpdate, .clipGradCoef].contains($0.op) })
    let ema = try XCTUnwrap(graph.program("ema"))
    XCTAssertEqual(ema.nodes.filter { $0.op == .emaFlat }.count, 1)
    XCTAssertFalse(ema.nodes.contains { $0.op == .emaUpdate })
    // The four gradients live in their grad.* buffers, not in the arena.
    let homed = train.nodes.compactMap { $0.slot?.buffer }.sorted()
    XCTAssertEqual(
      homed,
      [
        "grad.student.fc.bias", "grad.student.fc.weight", "grad.student.head.last_layer.weight",
        "grad.student.norm.weight",
      ])
    let before = try XCTUnwrap(
      try Self.perTensor(try Self.model(clip: 0.05))
        .program("train_step")?.arenaBytes)
    XCTAssertLessThanOrEqual(try XCTUnwrap(train.arenaBytes), before)
    XCTAssertEqual(memoryProblems(train), [])
    let perTensor = try XCTUnwrap(
      try Self.perTensor(try Self.model(clip: 0.05))
        .program("train_step"))
    XCTAssertEqual(perTensor.nodes.filter { $0.op == .adamwUpdate }.count, 4)
    XCTAssertThrowsError(try Pipeline.run(try Self.model(clip: 1), skipping: ["schedule"])) {
      XCTAssertEqual("\($0)", "error: pass 'schedule' cannot be skipped (only flatten can)")
    }
  }

  /// Five steps across the freeze boundary (gate 0, 0, then 1) with clipping active: every
  /// parameter, moment, step count and teacher weight is bitwise the per-tensor result
  /// (the flat kernels keep each tensor's summation order), with one and two threads.
  func testFlatStepIsBitwiseThePerTensorStep() throws {
    let gates: [Float] = [0, 0, 1, 1, 1]
    for clip in [0.05, 0] {
      let model = try Self.model(clip: clip)
      for threads in [1, 2] {
        let flat = try Self.train(try Pipeline.run(model), gates: gates, threads: threads)
        let reference = try Self.train(try Self.perTensor(model), gates: gates, threads: threads)
        XCTAssertEqual(Set(flat.keys), Set(reference.keys))
        for (name, values) in reference {
          XCTAssertEqual(
            flat[name]?.map(\.bitPattern), values.map(\.bitPattern),
            "\(name), clip \(clip), \(threads) threads")
        }
        XCTAssertEqual(flat["adam_step.student.head.last_layer.weight"], [3], "frozen twice")
        XCTAssertEqual(flat["adam_step.student.fc.weight"], [5])
        XCTAssertNil(flat["grad.student.fc.weight"], "gradients are no state")
      }
    }
  }

  /// A plan whose segment table no longer matches the persistent layout is refused at
  /// load, in one line naming the op and the segment.
  func testASegmentTableThatDoesNotMatchTheRegionsIsRefused() throws {
    var graph = try Pipeline.run(try Self.model(clip: 3))
    let p = try XCTUnwrap(graph.programIndex("train_step"))
    let flat = try XCTUnwrap(graph.programs[p].nodes.firstIndex { $0.op == .adamwFlat })
    let table = graph.programs[p].nodes[flat].operands[8].index
    var data = graph.programs[p].nodes[table].attrs.floats("data")
    data[3] -= 1  // the first segment one element shorter than its buffer
    graph.programs[p].nodes[table].attrs["data"] = .floats(data)
    XCTAssertThrowsError(try Runtime(graph: graph)) { error in
      let message = "\(error)"
      XCTAssertTrue(message.contains("adamw_flat: segment 0"), message)
      XCTAssertTrue(message.contains("does not match the persistent layout"), message)
      XCTAssertFalse(message.contains("\n"), message)
    }
  }
}
