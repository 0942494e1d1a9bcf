import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// A small transformer-like program planned by the real pipeline and run with the
/// optimised kernels (1 and 2 threads) against the naive reference kernels.
final class MLPTests: XCTestCase {
  static let (batch, tokens, dim, hidden, classes) = (3, 7, 12, 24, 10)

  /// layer_norm → linear → gelu → linear → residual add → token mixing (matmul, softmax,
  /// matmul) → linear head → tempered softmax and log_softmax → reduce.
  static func graph() throws -> Graph {
    let (b, t, d, h, k) = (batch, tokens, dim, hidden, classes)
    var p = ProgramBuilder(name: "forward")
    let x = p.input("x", [b, t, d])
    let gamma = p.parameter("student.norm.weight", [d], init: "uniform(0.5,1.5)")
    let beta = p.parameter("student.norm.bias", [d], init: "uniform(-0.1,0.1)")
    let w1 = p.parameter("student.fc1.weight", [h, d], init: "trunc_normal(0.2,-0.4,0.4)")
    let b1 = p.parameter("student.fc1.bias", [h], init: "uniform(-0.1,0.1)")
    let w2 = p.parameter("student.fc2.weight", [d, h], init: "trunc_normal(0.2,-0.4,0.4)")
    let b2 = p.parameter("student.fc2.bias", [d], init: "zeros")
    let w3 = p.parameter("student.head.weight", [k, d], init: "normal(0.3)")
    let b3 = p.parameter("student.head.bias", [k], init: "const(0.05)")
    let normed = try p.op(.layerNorm, x, gamma, beta, attrs: ["eps": .float(1e-6)])
    let hidden = try p.op(.gelu, p.op(.linear, normed, w1, b1))
    let residual = try p.op(.add, x, try p.op(.linear, hidden, w2, b2))
    let scores = try p.op(
      .matmul, residual, residual, attrs: ["trans_a": .int(0), "trans_b": .int(1)])
    let mixing = try p.op(.softmax, p.op(.scale, scores, attrs: ["factor": .float(0.25)]))
    let mixed = try p.op(
      .matmul, mixing, residual, attrs: ["trans_a": .int(0), "trans_b": .int(0)])
    let logits = try p.op(.linear, mixed, w3, b3)
    let tempered = try p.op(.scale, logits, attrs: ["factor": .float(10)])
    let probs = try p.op(.softmax, tempered)
    let logProbs = try p.op(.logSoftmax, tempered)
    let entropy = try p.op(
      .reduceSum, try p.op(.mul, probs, logProbs), attrs: ["axis": .int(2), "keepdims": .int(0)])
    let loss = try p.op(.reduceMean, entropy, attrs: ["axis": .int(1), "keepdims": .int(0)])
    p.output("residual", residual)
    p.output("probs", probs)
    p.output("loss", loss)
    do {
      return try Pipeline.run(Graph(programs: [p.program]))
    } catch {
      throw RuntimeError("pipeline: \(error)")
    }
  }

  func run(_ graph: Graph, threads: Int, kernels: Runtime.Kernels) throws -> [String: [Float]] {
    let runtime = try Runtime(graph: graph, threads: threads, kernels: kernels)
    try runtime.initializeParameters(seed: 4)
    try runtime.setInput("x", randomFloats(Self.batch * Self.tokens * Self.dim, seed: 9, scale: 2))
    try runtime.run("forward")
    var result: [String: [Float]] = [:]
    for name in ["residual", "probs", "loss"] { result[name] = try runtime.output(name) }
    return result
  }

  func testOptimisedKernelsMatchReference() throws {
    let graph = try Self.graph()
    XCTAssertLessThan(
      graph.programs[0].arenaBytes!, graph.programs[0].nodes.reduce(0) { $0 + $1.type.byteSize },
      "the planner reuses memory")
    let reference = try run(graph, threads: 1, kernels: .reference)
    XCTAssertEqual(reference["loss"]?.count, Self.batch)
    XCTAssertTrue(reference["loss"]!.allSatisfy { $0.isFinite && $0 < 0 })
    for threads in [1, 2] {
      let got = try run(graph, threads: threads, kernels: .optimized)
      for name in ["residual", "probs", "loss"] {
        assertClose(
          got[name]!, reference[name]!.map(Double.init), atol: 2e-5, rtol: 2e-4,
          "\(name), \(threads) threads")
      }
    }
    // Same thread count, same bits.
    XCTAssertEqual(
      try run(graph, threads: 2, kernels: .optimized),
      try run(graph, threads: 2, kernels: .optimized))
  }
}
