import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// The `fuse` pass and the ops with several results it makes: what fuses, what the
/// verifier, dead-code elimination, scheduling and liveness do with `result` nodes, and the
/// fused graph against the unfused one in the Double reference interpreter.
final class FuseTests: XCTestCase {
  /// A `gradients` program over a linear layer and a layer norm on odd shapes (x gets a
  /// gradient, so the layer norm's whole backward exists); a second, frozen layer norm
  /// whose parameters get no gradient stays unfused.
  static let text = """
    #dino-ir v1 stage=captured
    file "ln.swift"

    program @gradients {
      %0 = input {name="x"} : f32[3,5,4]  @ :1:1
      scope student.fc
      %1 = parameter {init="normal(0.5)", name="student.fc.weight", trainable=1} : f32[7,4]  @ :2:1
      %2 = parameter {init="normal(0.5)", name="student.fc.bias", trainable=1} : f32[7]  @ :2:1
      %3 = linear(%0, %1, %2) : f32[3,5,7]  @ :3:1
      scope student.norm
      %4 = parameter {init="normal(1)", name="student.norm.weight", trainable=1} : f32[7]  @ :4:1
      %5 = parameter {init="normal(1)", name="student.norm.bias", trainable=1} : f32[7]  @ :4:1
      %6 = layer_norm(%3, %4, %5) {eps=1e-06} : f32[3,5,7]  @ :5:1
      scope frozen.norm
      %7 = parameter {init="ones", name="frozen.norm.weight", trainable=0} : f32[7]  @ :6:1
      %8 = parameter {init="zeros", name="frozen.norm.bias", trainable=0} : f32[7]  @ :6:1
      %9 = layer_norm(%6, %7, %8) {eps=1e-06} : f32[3,5,7]  @ :7:1
      scope ""
      %10 = gelu(%9) : f32[3,5,7]  @ :8:1
      %11 = mul(%10, %3) : f32[3,5,7]  @ :9:1
      %12 = reduce_sum(%11) {axis=2, keepdims=0} : f32[3,5]  @ :10:1
      %13 = reduce_sum(%12) {axis=1, keepdims=0} : f32[3]  @ :10:1
      %14 = reduce_sum(%13) {axis=0, keepdims=0} : f32[]  @ :10:1
      return loss=%14
    }
    """

  private func graphs() throws -> (fused: Graph, unfused: Graph) {
    let graph = try parseIR(Self.text, fileName: "ln.ir")
    return (try Pipeline.run(graph), try Pipeline.run(graph, fusing: false))
  }

  private func ops(_ graph: Graph) -> [OpKind] { graph.programs[0].nodes.map(\.op) }

  func testTheTrainedLayerNormFusesAndTheFrozenOneDoesNot() throws {
    let (fused, unfused) = try graphs()
    XCTAssertEqual(ops(fused).filter { $0 == .layerNormTrain }.count, 1)
    XCTAssertEqual(ops(fused).filter { $0 == .layerNormGrad }.count, 1)
    XCTAssertEqual(ops(fused).filter { $0 == .layerNorm }.count, 1, "the frozen one")
    XCTAssertEqual(ops(fused).filter { $0 == .layerNormBwdGamma }.count, 0)
    XCTAssertEqual(ops(fused).filter { $0 == .layerNormBwd }.count, 1, "the frozen one's dx")
    XCTAssertEqual(ops(unfused).filter { $0 == .layerNormBwd }.count, 2)
    XCTAssertFalse(ops(unfused).contains(.result))
    let program = fused.programs[0]
    for (i, node) in program.nodes.enumerated() where node.op == .layerNormGrad {
      XCTAssertEqual(program.nodes[i + 1].op, .result)
      XCTAssertEqual(program.nodes[i + 2].attrs.int("index"), 2)
      XCTAssertEqual(node.loc, SourceLoc(file: "ln.swift", line: 5, column: 1))
      XCTAssertTrue(node.isBackward)
    }
    XCTAssertEqual(Set(program.outputs.map(\.name)), Set(unfused.programs[0].outputs.map(\.name)))
  }

  func testFusedGradientsEqualTheUnfusedOnesInTheReference() throws {
    let (fused, unfused) = try graphs()
    let x = ReferenceTensor(shape: [3, 5, 4]) { Double(($0 * 37) % 23) / 11 - 1 }
    let a = try assertFusedMatchesUnfused(fused, unfused, program: "gradients", inputs: ["x": x])
    XCTAssertTrue(a.keys.contains("grad.student.norm.bias"))
  }

  func testResultValuesAreLiveFromTheirProducer() throws {
    let (fused, _) = try graphs()
    let program = fused.programs[0]
    let liveness = Liveness(program)
    for (i, node) in program.nodes.enumerated() where node.op == .result {
      XCTAssertEqual(liveness.intervals[i]?.start, node.operands[0].index)
    }
    XCTAssertEqual(memoryProblems(program), [])
  }

  func testDeadCodeKeepsEveryResultOfAKeptNode() throws {
    var graph = try Pipeline.run(try parseIR(Self.text, fileName: "ln.ir"), stopAfter: "fuse")
    graph.programs[0].outputs.removeAll { $0.name == "grad.student.norm.bias" }
    let pruned = try eliminateDeadCode(graph)
    XCTAssertEqual(pruned.programs[0].nodes.filter { $0.op == .result }.count, 3)
    XCTAssertNoThrow(try Verifier.verify(pruned))
  }

  func testVerifierRefusesMisplacedOrMissingResults() throws {
    let fused = try Pipeline.run(try parseIR(Self.text, fileName: "ln.ir"), stopAfter: "fuse")
    let program = fused.programs[0]
    let grad = try XCTUnwrap(program.nodes.firstIndex { $0.op == .layerNormGrad })
    var swapped = fused
    swapped.programs[0].nodes[grad + 1].attrs["index"] = .int(2)
    XCTAssertThrowsError(try Verifier.verify(swapped)) {
      XCTAssertTrue("\($0)".contains("layer_norm_grad: result 1 must follow"), "\($0)")
    }
    var retyped = fused
    retyped.programs[0].nodes[grad + 2].type = TensorType(.f32, [8])
    XCTAssertThrowsError(try Verifier.verify(retyped)) {
      XCTAssertTrue("\($0)".contains("differs from result 2 of layer_norm_grad"), "\($0)")
    }
  }

  func testLinearGeluLinearResidualAndGeluBackwardAreGemmEpilogues() throws {
    let graph = try PassFixtures.mlp()
    let fused = try Pipeline.run(graph)
    let unfused = try Pipeline.run(graph, fusing: false)
    let program = try XCTUnwrap(fused.program("train_step"))
    let index = try XCTUnwrap(program.nodes.firstIndex { $0.op == .linearGelu })
    let node = program.nodes[index]
    XCTAssertEqual(node.loc, SourceLoc(file: "mlp.swift", line: 5, column: 3))
    XCTAssertEqual(node.absorbed, [SourceLoc(file: "mlp.swift", line: 6, column: 3)])
    XCTAssertEqual(program.nodes[index + 1].op, .result, "the pre-activation")
    XCTAssertFalse(program.nodes.contains { $0.op == .gelu })
    // GELU's backward: the GEMM making its incoming gradient applies it to the pre-activation.
    XCTAssertFalse(program.nodes.contains { $0.op == .geluBwd })
    XCTAssertTrue(
      program.nodes.contains { $0.op == .matmulGeluBwd && $0.operands[2].index == index + 1 })
    // fc2 and the residual add: one linear_residual over fc1's pre-activation.
    let residual = try XCTUnwrap(program.nodes.first { $0.op == .linearResidual })
    XCTAssertEqual(residual.operands[0].index, index, "x: the GELU of the first fused node")
    XCTAssertEqual(residual.operands[3].index, index + 1, "r: the pre-activation")
    XCTAssertEqual(
      residual.absorbed, [SourceLoc(file: "mlp.swift", line: 7, column: 3, inferred: true)])
    // The same step in the reference interpreter: every buffer after AdamW.
    var inputs: [String: ReferenceTensor] = [:]
    for node in graph.programs[0].nodes where node.op == .input {
      inputs[node.attrs.string("name")] = ReferenceTensor(shape: node.type.shape) {
        Double(($0 * 7) % 11) / 10 - 0.4
      }
    }
    var buffers: [String: ReferenceTensor] = [:]
    for buffer in fused.buffers() {
      buffers[buffer.name] = ReferenceTensor(shape: buffer.type.shape) {
        Double(($0 * 5) % 13) / 20
      }
    }
    var copy = buffers
    let a = try ReferenceInterpreter.run(
      fused, program: "train_step", inputs: inputs, buffers: &buffers)
    let b = try ReferenceInterpreter.run(
      unfused, program: "train_step", inputs: inputs, buffers: &copy)
    XCTAssertEqual(a, b)
    XCTAssertEqual(buffers, copy)
  }

  func testNoFuseOnlyMarksTheStage() throws {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "ln.ir"), stopAfter: "dead_code")
    let kept = try Pipeline.run(graph, stopAfter: "fuse", fusing: false)
    XCTAssertEqual(kept.stage, "fuse")
    XCTAssertEqual(kept.programs, graph.programs)
  }
}
