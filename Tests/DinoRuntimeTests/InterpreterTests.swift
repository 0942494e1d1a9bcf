import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// The executor against the Double reference interpreter, on 1 and 2 threads: outputs of
/// a transformer-like forward program, and persistent buffers after effect ops.
final class InterpreterTests: XCTestCase {
  /// The runtime's persistent buffers as reference tensors.
  func snapshot(_ runtime: Runtime) throws -> [String: ReferenceTensor] {
    var buffers: [String: ReferenceTensor] = [:]
    for name in runtime.bufferNames {
      buffers[name] = ReferenceTensor(
        shape: try runtime.bufferType(name).shape, floats: Array(try runtime.buffer(name)))
    }
    return buffers
  }

  func testForwardMatchesInterpreter() throws {
    let graph = try MLPTests.graph()
    let shape = [MLPTests.batch, MLPTests.tokens, MLPTests.dim]
    let x = randomFloats(shape.reduce(1, *), seed: 21, scale: 2)
    for threads in [1, 2] {
      let runtime = try Runtime(graph: graph, threads: threads)
      try runtime.initializeParameters(seed: 8)
      try runtime.setInput("x", x)
      try runtime.run("forward")
      var buffers = try snapshot(runtime)
      let expected = try ReferenceInterpreter.run(
        graph, program: "forward", inputs: ["x": ReferenceTensor(shape: shape, floats: x)],
        buffers: &buffers)
      for name in ["residual", "probs", "loss"] {
        assertClose(
          try runtime.output(name), expected[name]!.data, atol: 3e-5, rtol: 3e-4,
          "\(name), \(threads) threads")
      }
    }
  }

  /// A training-like step: forward, hand-written gradients, clipping, AdamW on weight and
  /// bias, then an EMA of the updated weight into the teacher.
  static func stepGraph() throws -> Graph {
    var p = ProgramBuilder(name: "train_step")
    let x = p.input("x", [8, 12])
    let lr = p.input("lr", [])
    let wd = p.input("wd", [])
    let gate = p.input("last_layer_gate", [])
    let momentum = p.input("momentum", [])
    let w = p.parameter("student.fc.weight", [6, 12], init: "trunc_normal(0.3,-0.6,0.6)")
    let b = p.parameter("student.fc.bias", [6], init: "uniform(-0.2,0.2)")
    let teacher = p.parameter(
      "teacher.fc.weight", [6, 12], init: "copy(student.fc.weight)", trainable: false)
    let y = try p.op(.gelu, p.op(.linear, x, w, b))
    let dy = try p.op(.scale, y, attrs: ["factor": .float(0.1)])
    let gw = try p.op(.matmul, dy, x, attrs: ["trans_a": .int(1), "trans_b": .int(0)])
    let gb = try p.op(.reduceSum, dy, attrs: ["axis": .int(0), "keepdims": .int(0)])
    let clipped = try p.op(.mul, gw, try p.op(.clipGradCoef, gw, attrs: ["max_norm": .float(0.05)]))
    let adam: Attributes = ["beta1": .float(0.9), "beta2": .float(0.999), "eps": .float(1e-8)]
    for (param, grad, name, decay) in [(w, clipped, "fc.weight", 1), (b, gb, "fc.bias", 0)] {
      let shape = p.program.nodes[param.index].type.shape
      let m = p.parameter("adam_m.student.\(name)", shape, init: "zeros", trainable: false)
      let v = p.parameter("adam_v.student.\(name)", shape, init: "zeros", trainable: false)
      let t = p.parameter("adam_step.student.\(name)", [], init: "zeros", trainable: false)
      _ = try p.op(
        .adamwUpdate, param, grad, m, v, t, lr, wd, gate,
        attrs: adam.merging(["decay": .int(decay)]) { $1 })
    }
    _ = try p.op(.emaUpdate, teacher, w, momentum)
    let loss = try p.op(
      .reduceSum, try p.op(.reduceSum, y, attrs: ["axis": .int(1), "keepdims": .int(0)]),
      attrs: ["axis": .int(0), "keepdims": .int(0)])
    p.output("loss", loss)
    do {
      return try Pipeline.run(Graph(programs: [p.program]))
    } catch {
      throw RuntimeError("pipeline: \(error)")
    }
  }

  func testEffectOpsMatchInterpreter() throws {
    let graph = try Self.stepGraph()
    for threads in [1, 2] {
      let runtime = try Runtime(graph: graph, threads: threads)
      try runtime.initializeParameters(seed: 3)
      var buffers = try snapshot(runtime)
      for step in 0..<3 {
        let x = randomFloats(96, seed: UInt64(40 + step), scale: 1.5)
        let scalars: [String: Float] = [
          "lr": 0.01, "wd": 0.04, "last_layer_gate": 1, "momentum": 0.9,
        ]
        try runtime.setInput("x", x)
        var inputs = ["x": ReferenceTensor(shape: [8, 12], floats: x)]
        for (name, value) in scalars {
          try runtime.setScalar(name, value)
          inputs[name] = ReferenceTensor(shape: [], floats: [value])
        }
        try runtime.run("train_step")
        let expected = try ReferenceInterpreter.run(
          graph, program: "train_step", inputs: inputs, buffers: &buffers)
        assertClose(
          try runtime.output("loss"), expected["loss"]!.data, atol: 1e-4, rtol: 1e-4, "loss")
        for name in runtime.bufferNames {
          assertClose(
            Array(try runtime.buffer(name)), buffers[name]!.data, atol: 2e-6, rtol: 1e-4,
            "\(name) after step \(step), \(threads) threads")
        }
        // Continue from the runtime's state so rounding differences do not accumulate.
        buffers = try snapshot(runtime)
      }
      XCTAssertEqual(Array(try runtime.buffer("adam_step.student.fc.bias")), [3])
    }
  }
}
