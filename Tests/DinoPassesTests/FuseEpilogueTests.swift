import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// The GEMM epilogues of the `fuse` pass beyond bias: GELU where nothing else reads the
/// pre-activation (`linear_gelu_only`), a drop-path scale before the residual add
/// (`linear_residual_scaled`) and GELU's backward on the GEMM making its incoming gradient
/// (`matmul_gelu_bwd`): what fuses, the locations the fused nodes keep, and the fused graph
/// against the unfused one in the Double reference interpreter.
final class FuseEpilogueTests: XCTestCase {
  /// A residual MLP block with drop path on odd shapes, trained (`gradients`), and a
  /// forward-only linear → GELU (`features`).
  static let text = """
    #dino-ir v1 stage=captured
    file "block.swift"

    program @gradients {
      %0 = input {name="x"} : f32[3,5,4]  @ :1:1
      %1 = input {name="seed"} : i32[]  @ :1:1
      scope student.fc1
      %2 = parameter {init="normal(0.5)", name="student.fc1.weight", trainable=1} : f32[7,4]  @ :2:1
      %3 = parameter {init="normal(0.5)", name="student.fc1.bias", trainable=1} : f32[7]  @ :2:1
      %4 = linear(%0, %2, %3) : f32[3,5,7]  @ :3:1
      %5 = gelu(%4) : f32[3,5,7]  @ :4:1
      scope student.fc2
      %6 = parameter {init="normal(0.5)", name="student.fc2.weight", trainable=1} : f32[4,7]  @ :5:1
      %7 = parameter {init="normal(0.5)", name="student.fc2.bias", trainable=1} : f32[4]  @ :5:1
      %8 = linear(%5, %6, %7) : f32[3,5,4]  @ :6:1
      scope student
      %9 = drop_path_mask(%1) {batch=3, rate=0.4, stream=1} : f32[3]  @ :7:1
      %10 = reshape(%9) {shape=[3,1,1]} : f32[3,1,1]  @ :7:1
      %11 = mul(%8, %10) : f32[3,5,4]  @ :8:1
      %12 = add(%0, %11) : f32[3,5,4]  @ :9:1
      %13 = mul(%12, %12) : f32[3,5,4]  @ :10:1
      %14 = reduce_sum(%13) {axis=2, keepdims=0} : f32[3,5]  @ :10:1
      %15 = reduce_sum(%14) {axis=1, keepdims=0} : f32[3]  @ :10:1
      %16 = reduce_sum(%15) {axis=0, keepdims=0} : f32[]  @ :10:1
      return loss=%16
    }

    program @features {
      %0 = input {name="x"} : f32[3,5,4]  @ :11:1
      %1 = parameter {init="normal(0.5)", name="student.fc1.weight", trainable=1} : f32[7,4]  @ :2:1
      %2 = parameter {init="normal(0.5)", name="student.fc1.bias", trainable=1} : f32[7]  @ :2:1
      %3 = linear(%0, %1, %2) : f32[3,5,7]  @ :12:1
      %4 = gelu(%3) : f32[3,5,7]  @ :13:1
      %5 = scale(%4) {factor=2.0} : f32[3,5,7]  @ :14:1
      return features=%5
    }
    """

  private func loc(_ line: Int) -> SourceLoc {
    SourceLoc(file: "block.swift", line: line, column: 1)
  }

  private func fused(_ program: String) throws -> Program {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "block.ir"), stopAfter: "fuse")
    return try XCTUnwrap(graph.program(program))
  }

  func testForwardOnlyLinearGeluKeepsNoPreActivation() throws {
    let program = try fused("features")
    let node = try XCTUnwrap(program.nodes.first { $0.op == .linearGeluOnly })
    XCTAssertEqual(node.loc, loc(12))
    XCTAssertEqual(node.absorbed, [loc(13)])
    XCTAssertEqual(node.type.shape, [3, 5, 7])
    XCTAssertFalse(
      program.nodes.contains { [.gelu, .linear, .linearGelu, .result].contains($0.op) })
  }

  func testDropPathFusesIntoTheResidualEpilogue() throws {
    let program = try fused("gradients")
    let node = try XCTUnwrap(program.nodes.first { $0.op == .linearResidualScaled })
    XCTAssertEqual(node.loc, loc(6))
    XCTAssertEqual(node.absorbed, [loc(8), loc(9)])
    XCTAssertEqual(program[node.operands[3]].op, .input, "r: x")
    XCTAssertEqual(program[node.operands[4]].type.shape, [3, 1, 1], "the reshaped mask")
    XCTAssertFalse(program.nodes.contains { $0.op == .linearResidual })
    // The backward keeps its product of the incoming gradient and the mask (here the last
    // step of an element-wise chain: the gradient of the squared loss has no other reader).
    XCTAssertTrue(
      program.nodes.contains {
        ($0.op == .mul || $0.op == .eltwiseChain) && $0.isBackward
          && $0.operands.last == node.operands[4]
      })
  }

  func testGeluBackwardFusesIntoTheGemmMakingItsGradient() throws {
    let program = try fused("gradients")
    XCTAssertFalse(program.nodes.contains { $0.op == .geluBwd })
    let node = try XCTUnwrap(program.nodes.first { $0.op == .matmulGeluBwd })
    let forward = try XCTUnwrap(program.nodes.firstIndex { $0.op == .linearGelu })
    XCTAssertEqual(node.operands[2].index, forward + 1, "h: the saved pre-activation")
    XCTAssertEqual(node.loc, loc(6), "fc2's backward GEMM")
    XCTAssertEqual(node.absorbed, [loc(4)], "the gelu's backward")
    XCTAssertEqual(node.attrs.int("trans_a"), 0)
    XCTAssertTrue(node.isBackward)
    XCTAssertEqual(node.type.shape, [3, 5, 7])
  }

  func testFusedGraphComputesTheUnfusedOneInTheReference() throws {
    let graph = try parseIR(Self.text, fileName: "block.ir")
    let fused = try Pipeline.run(graph), unfused = try Pipeline.run(graph, fusing: false)
    let x = ReferenceTensor(shape: [3, 5, 4]) { Double(($0 * 37) % 23) / 11 - 1 }
    for seed in [3, 11, 40] {
      let inputs = ["x": x, "seed": ReferenceTensor(shape: []) { _ in Double(seed) }]
      for name in ["gradients", "features"] {
        let outputs = try assertFusedMatchesUnfused(fused, unfused, program: name, inputs: inputs)
        XCTAssertFalse(outputs.isEmpty, name)
      }
    }
  }
}
