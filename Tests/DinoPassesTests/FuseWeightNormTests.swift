import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// The `fuse` pass on weight-normalised linear layers (`fuseLinearWeightNorm`): what fuses
/// into `linear_weight_norm` and `linear_weight_norm_bwd`, what stays, the locations the fused
/// nodes keep, the fused graph against the unfused one in the Double reference and its
/// gradients against finite differences.
final class FuseWeightNormTests: XCTestCase {
  /// Two weight-normalised layers on odd shapes after a linear (so both need dx): `a` with a
  /// trained magnitude g, `b` with a fixed one (DINO's norm_last_layer); and a forward-only
  /// use of `a` (`features`).
  static let text = """
    #dino-ir v1 stage=captured
    file "head.swift"

    program @gradients {
      %0 = input {name="x"} : f32[5,4]  @ :1:1
      scope student.fc
      %1 = parameter {init="normal(0.5)", name="student.fc.weight", trainable=1} : f32[6,4]  @ :2:1
      %2 = parameter {init="normal(0.5)", name="student.fc.bias", trainable=1} : f32[6]  @ :2:1
      %3 = linear(%0, %1, %2) : f32[5,6]  @ :3:1
      scope student.a
      %4 = parameter {init="uniform(0.5,1.5)", name="student.a.weight_g", trainable=1} : f32[7,1]  @ :4:1
      %5 = parameter {init="normal(0.5)", name="student.a.weight_v", trainable=1} : f32[7,6]  @ :4:1
      %6 = weight_norm(%5, %4) : f32[7,6]  @ :5:1
      %7 = matmul(%3, %6) {trans_a=0, trans_b=1} : f32[5,7]  @ :6:1
      scope student.b
      %8 = parameter {init="ones", name="student.b.weight_g", trainable=0} : f32[9,1]  @ :7:1
      %9 = parameter {init="normal(0.5)", name="student.b.weight_v", trainable=1} : f32[9,7]  @ :7:1
      %10 = weight_norm(%9, %8) : f32[9,7]  @ :8:1
      %11 = matmul(%7, %10) {trans_a=0, trans_b=1} : f32[5,9]  @ :9:1
      scope student
      %12 = mul(%11, %11) : f32[5,9]  @ :10:1
      %13 = reduce_sum(%12) {axis=1, keepdims=0} : f32[5]  @ :10:1
      %14 = reduce_sum(%13) {axis=0, keepdims=0} : f32[]  @ :10:1
      return loss=%14
    }

    program @features {
      %0 = input {name="x"} : f32[3,6]  @ :11:1
      %1 = parameter {init="uniform(0.5,1.5)", name="student.a.weight_g", trainable=1} : f32[7,1]  @ :4:1
      %2 = parameter {init="normal(0.5)", name="student.a.weight_v", trainable=1} : f32[7,6]  @ :4:1
      %3 = weight_norm(%2, %1) : f32[7,6]  @ :12:1
      %4 = matmul(%0, %3) {trans_a=0, trans_b=1} : f32[3,7]  @ :13:1
      return features=%4
    }
    """

  private func loc(_ line: Int) -> SourceLoc {
    SourceLoc(file: "head.swift", line: line, column: 1)
  }

  private func fused(_ program: String, text: String = text) throws -> Program {
    let graph = try Pipeline.run(try parseIR(text, fileName: "head.ir"), stopAfter: "fuse")
    return try XCTUnwrap(graph.program(program))
  }

  func testBothLayersAndTheirBackwardFuse() throws {
    let program = try fused("gradients")
    XCTAssertFalse(
      program.nodes.contains {
        [.weightNorm, .weightNormBwdV, .weightNormBwdG].contains($0.op)
      }, "no W and no gradient of W left")
    XCTAssertFalse(
      program.nodes.contains { $0.op == .matmul && $0.scope.hasPrefix("student.a") }
        || program.nodes.contains { $0.op == .matmul && $0.scope.hasPrefix("student.b") },
      "the layers' GEMMs are in the fused nodes")
    let forwards = program.nodes.filter { $0.op == .linearWeightNorm }
    XCTAssertEqual(forwards.map(\.loc), [loc(5), loc(8)], "the weight_norm's location")
    XCTAssertEqual(forwards.map(\.absorbed), [[loc(6)], [loc(9)]], "the matmul's")
    XCTAssertEqual(forwards.map(\.type.shape), [[5, 7], [5, 9]])

    let backward = program.nodes.indices.filter { program.nodes[$0].op == .linearWeightNormBwd }
    XCTAssertEqual(backward.count, 2)
    for b in backward {
      let node = program.nodes[b]
      XCTAssertTrue(node.isBackward)
      let v = program[node.operands[2]].attrs.string("name")
      let gradG = v == "student.a.weight_v" ? 1 : 0
      XCTAssertEqual(node.attrs.int("grad_g"), gradG, v)
      XCTAssertEqual(node.loc, v == "student.a.weight_v" ? loc(6) : loc(9), "the matmul's")
      XCTAssertEqual(node.absorbed, [v == "student.a.weight_v" ? loc(5) : loc(8)], "weight_norm")
      XCTAssertEqual(node.type.shape, program[node.operands[1]].type.shape, "dx: x's shape")
      let results = program.nodes[(b + 1)...].prefix { $0.op == .result }
      XCTAssertEqual(results.map(\.type.shape).first, program[node.operands[2]].type.shape, "dv")
      XCTAssertEqual(results.count, 1 + gradG, "dg only when g is trained")
    }
  }

  func testForwardOnlyLayerFusesWithoutBackward() throws {
    let program = try fused("features")
    XCTAssertEqual(
      program.nodes.map(\.op).filter { $0 != .input && $0 != .parameter },
      [
        .linearWeightNorm
      ])
    XCTAssertEqual(program.outputs.map(\.name), ["features"])
  }

  func testNotFusedWhereTheWeightIsReadElsewhere() throws {
    let text = Self.text.replacingOccurrences(
      of: "return features=%4",
      with: "%5 = reduce_sum(%3) {axis=1, keepdims=0} : f32[7]  @ :14:1\n"
        + "  return features=%4, w=%5")
    let program = try fused("features", text: text)
    XCTAssertTrue(program.nodes.contains { $0.op == .weightNorm }, "W is stored anyway")
    XCTAssertFalse(program.nodes.contains { $0.op == .linearWeightNorm })
  }

  func testForwardFusesWhereNoBackwardNeedsW() throws {
    // x is an input of the layer itself: no dx, so the only reader of W is the forward GEMM;
    // the gradient of v stays the autodiff's (dW, then weight_norm_bwd_v).
    let text = """
      #dino-ir v1 stage=captured
      file "head.swift"

      program @gradients {
        %0 = input {name="x"} : f32[5,6]  @ :1:1
        %1 = parameter {init="ones", name="student.b.weight_g", trainable=0} : f32[9,1]  @ :2:1
        %2 = parameter {init="normal(0.5)", name="student.b.weight_v", trainable=1} : f32[9,6]  @ :2:1
        %3 = weight_norm(%2, %1) : f32[9,6]  @ :3:1
        %4 = matmul(%0, %3) {trans_a=0, trans_b=1} : f32[5,9]  @ :4:1
        %5 = mul(%4, %4) : f32[5,9]  @ :5:1
        %6 = reduce_sum(%5) {axis=1, keepdims=0} : f32[5]  @ :5:1
        %7 = reduce_sum(%6) {axis=0, keepdims=0} : f32[]  @ :5:1
        return loss=%7
      }
      """
    let program = try fused("gradients", text: text)
    XCTAssertTrue(program.nodes.contains { $0.op == .linearWeightNorm })
    XCTAssertFalse(program.nodes.contains { $0.op == .weightNorm })
    XCTAssertTrue(program.nodes.contains { $0.op == .weightNormBwdV })
    XCTAssertFalse(program.nodes.contains { $0.op == .linearWeightNormBwd })
  }

  func testBackwardWhoseOperandsComeLaterStaysUnfused() throws {
    // A hand-written "backward" whose dx GEMM runs before x and the forward exist: the fused
    // node would read values not yet defined, so the layer stays as written.
    let text = """
      #dino-ir v1 stage=captured
      file "head.swift"

      program @features {
        %0 = parameter {init="ones", name="student.b.weight_g", trainable=0} : f32[9,1]  @ :1:1
        %1 = parameter {init="normal(0.5)", name="student.b.weight_v", trainable=0} : f32[9,6]  @ :1:1
        %2 = weight_norm(%1, %0) : f32[9,6]  @ :2:1
        %3 = input {name="dy"} : f32[5,9]  @ :3:1
        %4 = matmul(%3, %2) {trans_a=0, trans_b=0} : f32[5,6]  @ :4:1
        %5 = input {name="x"} : f32[5,6]  @ :5:1
        %6 = matmul(%5, %2) {trans_a=0, trans_b=1} : f32[5,9]  @ :6:1
        %7 = matmul(%3, %5) {trans_a=1, trans_b=0} : f32[9,6]  @ :7:1
        %8 = weight_norm_bwd_v(%7, %1, %0) : f32[9,6]  @ :8:1
        return y=%6, dx=%4, dv=%8
      }
      """
    let program = try fused("features", text: text)
    XCTAssertTrue(program.nodes.contains { $0.op == .weightNorm })
    XCTAssertFalse(
      program.nodes.contains { $0.op == .linearWeightNorm || $0.op == .linearWeightNormBwd })
  }

  func testFusedGraphComputesTheUnfusedOneInTheReference() throws {
    let graph = try parseIR(Self.text, fileName: "head.ir")
    let fused = try Pipeline.run(graph), unfused = try Pipeline.run(graph, fusing: false)
    XCTAssertTrue(
      try XCTUnwrap(fused.program("gradients")).nodes.contains { $0.op == .linearWeightNormBwd })
    for (name, shape) in [("gradients", [5, 4]), ("features", [3, 6])] {
      let x = ReferenceTensor(shape: shape) { Double(($0 * 37) % 23) / 11 - 1 }
      let outputs = try assertFusedMatchesUnfused(fused, unfused, program: name, inputs: ["x": x])
      XCTAssertFalse(outputs.isEmpty, name)
    }
  }

  func testFusedGradientsMatchFiniteDifferences() throws {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "head.ir"))
    let program = try XCTUnwrap(graph.program("gradients"))
    let x = ReferenceTensor(shape: [5, 4]) { Double(($0 * 37) % 23) / 11 - 1 }
    var buffers: [String: ReferenceTensor] = [:]
    for buffer in graph.buffers() {
      buffers[buffer.name] = ReferenceTensor(shape: buffer.type.shape) {
        Double(($0 * 13 + buffer.name.count) % 17) / 8 - 0.9
      }
    }
    var scratch = buffers
    let analytic = try ReferenceInterpreter.run(
      program, inputs: ["x": x], buffers: &scratch)
    let wrt = [
      "student.a.weight_g", "student.a.weight_v", "student.b.weight_v", "student.fc.weight",
    ]
    let numeric = try GradientCheck.numericGradient(
      program: program, output: "loss", wrt: wrt, inputs: ["x": x], buffers: buffers)
    var named: [String: ReferenceTensor] = [:]
    for name in wrt { named[name] = analytic["grad." + name] }
    XCTAssertEqual(
      GradientCheck.mismatches(analytic: named, numeric: numeric), [],
      "linear_weight_norm_bwd's dx, dv and dg against finite differences")
  }
}
