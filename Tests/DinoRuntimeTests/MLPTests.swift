import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// A small transformer-like program planned by the real pipeline and run with the
/// optimised kernels (1 and 2 threads) against the naive reference kernels.
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
