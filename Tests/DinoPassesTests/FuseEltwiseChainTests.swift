import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// The `fuse` pass's element-wise chains (`eltwise_chain`): which trees of element-wise nodes
/// fuse and which do not, the program and locations of the fused node, the IR text, and
/// the fused graph against the unfused one in the Double reference interpreter.
final class FuseEltwiseChainTests: XCTestCase {
  /// @centered: DINO's teacher targets and center update (a chain with a broadcast centre
  /// and a scalar temperature, a tree of two scales, a scalar chain). @blocked: chains
  /// that must not fuse whole (an intermediate with two readers, a softmax in the middle,
  /// an intermediate that is an output).
  static let text = """
    #dino-ir v1 stage=captured
    file "chain.swift"

    program @centered {
      %0 = input {name="logits"} : f32[6,9]  @ :1:1
      %1 = input {name="temp"} : f32[]  @ :1:1
      %2 = parameter {init="normal(0.5)", name="center", trainable=0} : f32[1,9]  @ :2:1
      %3 = softmax(%0) : f32[6,9]  @ :2:1
      %4 = sub(%3, %2) : f32[6,9]  @ :3:1
      %5 = div(%4, %1) : f32[6,9]  @ :4:1
      %6 = exp(%5) : f32[6,9]  @ :5:1
      %7 = reduce_sum(%3) {axis=0, keepdims=1} : f32[1,9]  @ :6:1
      %8 = scale(%2) {factor=0.9} : f32[1,9]  @ :7:1
      %9 = scale(%7) {factor=0.1} : f32[1,9]  @ :8:1
      %10 = add(%8, %9) : f32[1,9]  @ :9:1
      %11 = reduce_sum(%6) {axis=1, keepdims=0} : f32[6]  @ :10:1
      %12 = reduce_sum(%11) {axis=0, keepdims=0} : f32[]  @ :10:1
      %13 = scale(%12) {factor=-0.5} : f32[]  @ :11:1
      %14 = gelu(%13) : f32[]  @ :12:1
      return targets=%6, center=%10, total=%14
    }

    program @blocked {
      %0 = input {name="x"} : f32[4,7]  @ :20:1
      %1 = input {name="y"} : f32[7]  @ :20:1
      %2 = add(%0, %1) : f32[4,7]  @ :21:1
      %3 = mul(%2, %2) : f32[4,7]  @ :22:1
      %4 = sub(%3, %2) : f32[4,7]  @ :23:1
      %5 = exp(%0) : f32[4,7]  @ :24:1
      %6 = softmax(%5) : f32[4,7]  @ :25:1
      %7 = log(%6) : f32[4,7]  @ :26:1
      %8 = mul(%0, %1) : f32[4,7]  @ :27:1
      %9 = gelu(%8) : f32[4,7]  @ :28:1
      return a=%4, b=%7, c=%9, d=%8
    }
    """

  private func loc(_ line: Int) -> SourceLoc {
    SourceLoc(file: "chain.swift", line: line, column: 1)
  }

  private func fused(_ name: String) throws -> Program {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "chain.ir"), stopAfter: "fuse")
    return try XCTUnwrap(graph.program(name))
  }

  private func program(_ node: Node, in p: Program) throws -> EltwiseProgram {
    try EltwiseProgram(encoded: node.attrs.ints("program"), operandCount: node.operands.count)
  }

  func testTargetsChainFusesWithItsBroadcastOperands() throws {
    let p = try fused("centered")
    let chains = p.nodes.filter { $0.op == .eltwiseChain }
    XCTAssertEqual(chains.count, 3, "targets, center update, the scalar chain")
    let targets = try XCTUnwrap(chains.first { $0.type.shape == [6, 9] })
    XCTAssertEqual(targets.operands.map { p[$0].op }, [.softmax, .parameter, .input])
    XCTAssertEqual(
      try program(targets, in: p).description, "t0 = sub(x0, x1); t1 = div(t0, x2); t2 = exp(t1)")
    XCTAssertEqual(targets.loc, loc(3))
    XCTAssertEqual(targets.absorbed, [loc(4), loc(5)])
    XCTAssertFalse(p.nodes.contains { [.sub, .div, .exp, .add, .gelu].contains($0.op) })
    XCTAssertEqual(p.nodes.filter { $0.op == .scale }.map(\.loc), [loc(7)], "reads only a leaf")
  }

  func testScalesKeepTheirFactorsAndLeafOnlyNodesStayOut() throws {
    let p = try fused("centered")
    let center = try XCTUnwrap(
      p.nodes.first { $0.op == .eltwiseChain && $0.type.shape == [1, 9] })
    XCTAssertEqual(
      try program(center, in: p).description, "t0 = scale(x0, factor0); t1 = add(x1, t0)")
    XCTAssertEqual(center.attrs.float("factor0"), 0.1)
    XCTAssertEqual(center.attrs.float("factor3"), 0)
    XCTAssertEqual(p[center.operands[0]].op, .reduceSum)
    XCTAssertEqual(p[center.operands[1]].op, .scale, "scale(center) reads only a leaf")
    XCTAssertEqual(center.loc, loc(8))
    XCTAssertEqual(center.absorbed, [loc(9)])
    let scalar = try XCTUnwrap(p.nodes.first { $0.op == .eltwiseChain && $0.type.shape == [] })
    XCTAssertEqual(
      try program(scalar, in: p).description, "t0 = scale(x0, factor0); t1 = gelu(t0)")
    XCTAssertEqual(scalar.attrs.float("factor0"), -0.5)
  }

  func testFiveScalesNeedTwoChains() throws {
    var lines = [
      "#dino-ir v1 stage=captured", "program @scales {", "  %0 = input {name=\"x\"} : f32[5]",
    ]
    for k in 1...5 { lines.append("  %\(k) = scale(%\(k - 1)) {factor=\(k).5} : f32[5]") }
    lines += ["  return y=%5", "}"]
    let graph = try Pipeline.run(
      try parseIR(lines.joined(separator: "\n") + "\n", fileName: "scales.ir"), stopAfter: "fuse")
    let p = try XCTUnwrap(graph.program("scales"))
    XCTAssertEqual(p.nodes.map(\.op), [.input, .scale, .eltwiseChain])
    XCTAssertEqual(p.nodes[2].attrs.float("factor0"), 2.5, "the first member's")
    XCTAssertEqual(p.nodes[2].attrs.float("factor3"), 5.5)
  }

  func testChainsStopAtSharedIntermediatesOtherOpsAndOutputs() throws {
    let p = try fused("blocked")
    // %2 has two readers (mul reads it twice, sub once more): only mul → sub fuses.
    let first = try XCTUnwrap(p.nodes.first { $0.op == .eltwiseChain })
    XCTAssertEqual(try program(first, in: p).description, "t0 = mul(x0, x0); t1 = sub(t0, x0)")
    XCTAssertEqual(p[first.operands[0]].op, .add)
    // exp → softmax → log: the softmax between them leaves both alone.
    XCTAssertTrue(p.nodes.contains { $0.op == .exp })
    XCTAssertTrue(p.nodes.contains { $0.op == .log })
    // mul → gelu: the mul is an output, so nothing fuses.
    XCTAssertTrue(p.nodes.contains { $0.op == .mul })
    XCTAssertTrue(p.nodes.contains { $0.op == .gelu })
    XCTAssertEqual(p.nodes.filter { $0.op == .eltwiseChain }.count, 1)
  }

  func testANodeReadingAnUpdatedParameterStaysBeforeTheUpdate() throws {
    let text = """
      #dino-ir v1 stage=captured
      program @p {
        %0 = input {name="x"} : f32[3]
        %1 = parameter {init="ones", name="center", trainable=0} : f32[3]
        %2 = exp(%0) : f32[3]
        %3 = mul(%1, %2) : f32[3]
        %4 = assign(%1, %2) : f32[]
        %5 = add(%3, %0) : f32[3]
        %6 = gelu(%5) : f32[3]
        return y=%6
      }

      """
    let graph = try Pipeline.run(try parseIR(text, fileName: "update.ir"), stopAfter: "fuse")
    let p = try XCTUnwrap(graph.program("p"))
    XCTAssertTrue(p.nodes.contains { $0.op == .mul }, "reads center before the assign")
    let chain = try XCTUnwrap(p.nodes.first { $0.op == .eltwiseChain })
    XCTAssertEqual(try program(chain, in: p).description, "t0 = add(x0, x1); t1 = gelu(t0)")
    let inputs = ["x": ReferenceTensor(shape: [3]) { Double($0) - 0.5 }]
    let unfused = try Pipeline.run(try parseIR(text, fileName: "update.ir"), fusing: false)
    try assertFusedMatchesUnfused(
      try Pipeline.run(try parseIR(text, fileName: "update.ir")), unfused, program: "p",
      inputs: inputs)
  }

  func testLongChainsAreCutAtEightSteps() throws {
    var lines = [
      "#dino-ir v1 stage=captured", "program @long {", "  %0 = input {name=\"x\"} : f32[5]",
    ]
    for k in 1...11 { lines.append("  %\(k) = \(k % 2 == 0 ? "gelu" : "exp")(%\(k - 1)) : f32[5]") }
    lines += ["  return y=%11", "}"]
    let graph = try Pipeline.run(
      try parseIR(lines.joined(separator: "\n") + "\n", fileName: "long.ir"), stopAfter: "fuse")
    let p = try XCTUnwrap(graph.program("long"))
    let chains = p.nodes.filter { $0.op == .eltwiseChain }
    // exp(x) reads only a leaf and stays alone; 10 nodes are left, 2 + 8.
    XCTAssertEqual(chains.map { $0.attrs.ints("program").count }, [2, 8])
    XCTAssertEqual(p.nodes.count, 4)
  }

  func testFusedIRRoundTripsAndShowsTheProgram() throws {
    let graph = try Pipeline.run(try parseIR(Self.text, fileName: "chain.ir"), stopAfter: "fuse")
    let text = printIR(graph)
    XCTAssertTrue(text.contains("// t0 = sub(x0, x1); t1 = div(t0, x2); t2 = exp(t1)"), text)
    let parsed = try parseIR(text, fileName: "fused.ir")
    XCTAssertEqual(parsed, graph)
    XCTAssertEqual(printIR(parsed), text)
  }

  func testBadProgramsAreRefusedByTheVerifier() throws {
    let base = """
      #dino-ir v1 stage=fuse
      program @p {
        %0 = input {name="x"} : f32[3,4]
        %1 = input {name="y"} : f32[4]
        %2 = eltwise_chain(%0, %1) {FACTORS, program=PROGRAM} : f32[3,4]
        return z=%2
      }

      """.replacingOccurrences(
        of: "FACTORS", with: "factor0=0.0, factor1=0.0, factor2=0.0, factor3=0.0")
    let cases = [
      "[20001,15002]": "step 1 (15002) reads 2",
      "[10001,100050]": "no op code",
      "[90004]": "scale names factor4",
      "[50001]": "gelu is unary",
      "[70000]": "reads 1 of its 2 operands",
      "[]": "0 steps",
    ]
    for (program, message) in cases {
      let graph = try parseIR(base.replacingOccurrences(of: "PROGRAM", with: program))
      let problems = Verifier.verifyAll(graph).map(\.description).joined(separator: "\n")
      XCTAssertTrue(problems.contains(message), "\(program): \(problems)")
    }
    let swapped = base.replacingOccurrences(
      of: "%2 = eltwise_chain(%0, %1)", with: "%2 = eltwise_chain(%1, %0)"
    )
    .replacingOccurrences(of: "PROGRAM", with: "[10001]")
    let problems = Verifier.verifyAll(try parseIR(swapped)).map(\.description).joined()
    XCTAssertTrue(problems.contains("does not broadcast to operand 0"), problems)
  }

  func testFusedGraphComputesTheUnfusedOneInTheReference() throws {
    let graph = try parseIR(Self.text, fileName: "chain.ir")
    let fused = try Pipeline.run(graph), unfused = try Pipeline.run(graph, fusing: false)
    let inputs = [
      "logits": ReferenceTensor(shape: [6, 9]) { Double(($0 * 7) % 11) / 5 - 1 },
      "temp": ReferenceTensor(shape: []) { _ in 0.07 },
      "x": ReferenceTensor(shape: [4, 7]) { Double(($0 * 5) % 9) / 4 - 1 },
      "y": ReferenceTensor(shape: [7]) { Double($0) / 3 + 0.5 },
    ]
    for name in ["centered", "blocked"] {
      let outputs = try assertFusedMatchesUnfused(fused, unfused, program: name, inputs: inputs)
      XCTAssertFalse(outputs.isEmpty, name)
    }
  }
}
