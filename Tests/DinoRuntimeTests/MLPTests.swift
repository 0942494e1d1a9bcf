import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// A small transformer-like program planned by the real pipeline and run with the
/// kernels (1 and 2 threads) against the Swift Double reference interpreter.
final class MLPTests: XCTestCase {
  static let (batch, tokens, dim, hidden, classes) = MLPFixture.sizes

  /// `MLPFixture.graph()` planned by the real pipeline.
  static func graph() throws -> Graph {
    do {
      return try Pipeline.run(try MLPFixture.graph())
    } catch {
      throw RuntimeError("pipeline: \(error)")
    }
  }

  /// The outputs of `forward` on `threads` threads, and the runtime's initial buffers.
  func run(_ graph: Graph, threads: Int) throws -> (
    outputs: [String: [Float]], buffers: [String: ReferenceTensor]
  ) {
    let runtime = try Runtime(graph: graph, threads: threads)
    try runtime.initializeParameters(seed: 4)
    var buffers: [String: ReferenceTensor] = [:]
    for name in runtime.bufferNames {
      buffers[name] = ReferenceTensor(
        shape: try runtime.bufferType(name).shape, floats: Array(try runtime.buffer(name)))
    }
    try runtime.setInput("x", input)
    try runtime.run("forward")
    var result: [String: [Float]] = [:]
    for name in ["residual", "probs", "loss"] { result[name] = try runtime.output(name) }
    return (result, buffers)
  }

  /// The program input `x`.
  var input: [Float] { randomFloats(Self.batch * Self.tokens * Self.dim, seed: 9, scale: 2) }

  func testOptimisedKernelsMatchReference() throws {
    let graph = try Self.graph()
    XCTAssertLessThan(
      graph.programs[0].arenaBytes!, graph.programs[0].nodes.reduce(0) { $0 + $1.type.byteSize },
      "the planner reuses memory")
    var buffers = try run(graph, threads: 1).buffers
    let shape = [Self.batch, Self.tokens, Self.dim]
    let reference = try ReferenceInterpreter.run(
      graph, program: "forward", inputs: ["x": ReferenceTensor(shape: shape, floats: input)],
      buffers: &buffers)
    XCTAssertEqual(reference["loss"]?.count, Self.batch)
    XCTAssertTrue(reference["loss"]!.data.allSatisfy { $0.isFinite && $0 < 0 })
    for threads in [1, 2] {
      let got = try run(graph, threads: threads).outputs
      for name in ["residual", "probs", "loss"] {
        assertClose(
          got[name]!, reference[name]!.data, atol: 2e-5, rtol: 2e-4,
          "\(name), \(threads) threads")
      }
    }
    // Same thread count, same bits.
    XCTAssertEqual(try run(graph, threads: 2).outputs, try run(graph, threads: 2).outputs)
  }
}
