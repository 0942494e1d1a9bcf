import DinoIR
import DinoPasses
import XCTest

/// Structure of the autodiff pass's output: errors, tagging, gradient routing, outputs.
/// The numerical checks of every VJP are in `AutodiffGradientTests`.
final class AutodiffTests: XCTestCase {
  /// A small program writer: types come from the op table; each node's location is the
  /// test line that made it, so tests can check where backward nodes point.
  private struct Writer {
    var program = Program(name: "train_step")

    mutating func node(
      _ op: OpKind, _ operands: [ValueID] = [], _ attrs: Attributes = [:],
      type declared: TensorType? = nil, scope: String = "", line: UInt = #line
    ) throws -> ValueID {
      let type = try op.resultType(operands.map { program[$0].type }, attrs, declared: declared)
      return program.append(
        Node(
          op, operands, attrs: attrs, type: type,
          loc: SourceLoc(file: "model.swift", line: Int(line), column: 1), scope: scope))
    }

    mutating func input(_ name: String, _ shape: [Int], line: UInt = #line) throws -> ValueID {
      try node(.input, [], ["name": .string(name)], type: TensorType(.f32, shape), line: line)
    }

    mutating func parameter(
      _ name: String, _ shape: [Int], trainable: Bool = true, line: UInt = #line
    ) throws -> ValueID {
      try node(
        .parameter, [],
        ["name": .string(name), "init": .string("zeros"), "trainable": .int(trainable ? 1 : 0)],
        type: TensorType(.f32, shape), line: line)
    }

    /// Sum of all elements as `f32[]`.
    mutating func total(_ value: ValueID, line: UInt = #line) throws -> ValueID {
      var v = value
      while !program[v].type.shape.isEmpty {
        v = try node(.reduceSum, [v], ["axis": .int(0), "keepdims": .int(0)], line: line)
      }
      return v
    }

    func graph(loss: ValueID) -> Graph {
      var p = program
      p.outputs = [ProgramOutput(name: "loss", value: loss)]
      return Graph(programs: [p])
    }
  }

  private func message(_ body: () throws -> Graph) -> CompileError? {
    do {
      _ = try body()
      return nil
    } catch {
      return error as? CompileError
    }
  }

  /// x → linear → gelu → layer_norm → sum, with student parameters.
  private func mlp() throws -> Graph {
    var w = Writer()
    let x = try w.input("x", [3, 4])
    let weight = try w.parameter("student.fc.weight", [5, 4])
    let bias = try w.parameter("student.fc.bias", [5])
    let h = try w.node(.linear, [x, weight, bias], scope: "fc")
    let g = try w.node(.gelu, [h], scope: "act")
    let gamma = try w.parameter("student.norm.weight", [5])
    let beta = try w.parameter("student.norm.bias", [5])
    let n = try w.node(.layerNorm, [g, gamma, beta], ["eps": .float(1e-6)], scope: "norm")
    let loss = try w.total(n)
    return w.graph(loss: loss)
  }

  func testGradientOutputsAndStage() throws {
    let graph = try differentiate(mlp())
    try Verifier.verify(graph)
    XCTAssertEqual(graph.stage, "autodiff")
    let outputs = graph.programs[0].outputs.map(\.name)
    XCTAssertEqual(
      outputs,
      [
        "loss", "grad.student.fc.weight", "grad.student.fc.bias", "grad.student.norm.weight",
        "grad.student.norm.bias",
      ])
    let program = graph.programs[0]
    for output in program.outputs.dropFirst() {
      let name = String(output.name.dropFirst("grad.".count))
      let parameter = program.nodes.first { $0.bufferName == name }!
      XCTAssertEqual(program[output.value].type, parameter.type, output.name)
    }
  }

  func testBackwardNodesKeepForwardLocationAndScope() throws {
    let forward = try mlp()
    let graph = try differentiate(forward)
    let before = forward.programs[0].nodes
    let after = graph.programs[0].nodes
    XCTAssertEqual(Array(after.prefix(before.count)), before, "forward nodes are unchanged")
    let appended = after.dropFirst(before.count)
    XCTAssertFalse(appended.isEmpty)
    let forwardTags = Set(before.map { "\($0.loc)|\($0.scope)" })
    for node in appended {
      XCTAssertTrue(node.isBackward, "\(node.op)")
      XCTAssertTrue(forwardTags.contains("\(node.loc)|\(node.scope)"), "\(node.op) at \(node.loc)")
    }
    let ops = Set(appended.map(\.op))
    for op in [OpKind.layerNormBwd, .layerNormBwdGamma, .geluBwd, .matmul, .sumTo] {
      XCTAssertTrue(ops.contains(op), "\(op) missing from the backward program")
    }
    let layerNormBwd = appended.first { $0.op == .layerNormBwd }!
    XCTAssertEqual(layerNormBwd.scope, "norm")
    XCTAssertEqual(layerNormBwd.attrs.float("eps"), 1e-6)
    let geluBwd = appended.first { $0.op == .geluBwd }!
    XCTAssertEqual(geluBwd.scope, "act")
  }

  func testSeedIsAScalarOneAtTheLoss() throws {
    let forward = try mlp()
    let graph = try differentiate(forward)
    let program = graph.programs[0]
    let seed = program.nodes[forward.programs[0].nodes.count]
    XCTAssertEqual(seed.op, .constant)
    XCTAssertEqual(seed.attrs.floats("data"), [1])
    XCTAssertEqual(seed.type, .scalar)
    XCTAssertEqual(seed.loc, program[program.outputs[0].value].loc)
  }

  func testTeacherCenterAndFrozenParametersGetNoGradient() throws {
    var w = Writer()
    let x = try w.input("x", [2, 3])
    let student = try w.parameter("student.head.weight", [3, 3])
    let frozen = try w.parameter("student.head.last_layer.weight_g", [3, 1], trainable: false)
    let teacher = try w.parameter("teacher.head.weight", [3, 3])
    let center = try w.parameter("center", [1, 3], trainable: false)
    let s = try w.node(.matmul, [x, student], ["trans_a": .int(0), "trans_b": .int(0)])
    let scaled = try w.node(.mul, [s, try w.node(.reshape, [frozen], ["shape": .ints([3])])])
    let t = try w.node(.matmul, [x, teacher], ["trans_a": .int(0), "trans_b": .int(0)])
    let centered = try w.node(.sub, [t, center])
    let loss = try w.total(w.node(.mul, [scaled, w.node(.softmax, [centered])]))
    let graph = try differentiate(w.graph(loss: loss))
    try Verifier.verify(graph)
    XCTAssertEqual(graph.programs[0].outputs.map(\.name), ["loss", "grad.student.head.weight"])
    let appended = graph.programs[0].nodes.dropFirst(w.program.nodes.count)
    XCTAssertFalse(appended.contains { $0.op == .softmaxBwd }, "no gradient into the teacher")
    XCTAssertFalse(appended.contains { $0.op == .sumTo && $0.type.shape == [1, 3] })
  }

  func testSharedValueAndRepeatedParameterAccumulate() throws {
    var w = Writer()
    let x = try w.input("x", [4])
    let p1 = try w.parameter("student.p", [4])
    let p2 = try w.parameter("student.p", [4])
    let square = try w.node(.mul, [p1, p1])
    let loss = try w.total(w.node(.mul, [w.node(.add, [square, p2]), x]))
    let graph = try differentiate(w.graph(loss: loss))
    try Verifier.verify(graph)
    let program = graph.programs[0]
    XCTAssertEqual(program.outputs.map(\.name), ["loss", "grad.student.p"])
    let appended = program.nodes.dropFirst(w.program.nodes.count)
    XCTAssertEqual(appended.filter { $0.op == .add }.count, 2, "p·p twice, then the second read")
  }

  func testMissingProgramAndLossAreReported() throws {
    let graph = try mlp()
    XCTAssertEqual(
      message { try differentiate(graph, program: "step") }?.message,
      "autodiff: no program @step to differentiate")
    let error = message { try differentiate(graph, loss: "total") }
    XCTAssertEqual(error?.message, "autodiff: program @train_step has no output 'total'")
    XCTAssertEqual(error?.notes, ["its outputs are 'loss'"])
  }

  func testNonScalarLossIsReportedAtTheLoss() throws {
    var w = Writer()
    let weight = try w.parameter("student.w", [2, 2])
    let loss = try w.node(.reduceSum, [weight], ["axis": .int(0), "keepdims": .int(0)])
    let error = message { try differentiate(w.graph(loss: loss)) }
    XCTAssertEqual(error?.message, "autodiff: the loss 'loss' must be a scalar f32[], got f32[2]")
    XCTAssertEqual(error?.loc, w.program[loss].loc)
  }

  func testLossWithoutStudentParameterIsReported() throws {
    var w = Writer()
    let teacher = try w.parameter("teacher.w", [3])
    let student = try w.parameter("student.w", [3])
    let unused = try w.node(.scale, [student], ["factor": .float(2)])
    XCTAssertNotEqual(unused, teacher)
    let loss = try w.total(w.node(.mul, [teacher, teacher]))
    let error = message { try differentiate(w.graph(loss: loss)) }
    XCTAssertEqual(error?.message, "loss does not depend on any trainable student parameter")
    XCTAssertEqual(error?.loc, w.program[loss].loc)
  }

  func testGradientsStopAtNonDifferentiableOperands() throws {
    var w = Writer()
    let image = try w.parameter("student.image", [1, 1, 2, 2])
    let weight = try w.parameter("student.embed.weight", [3, 1, 2, 2])
    let bias = try w.parameter("student.embed.bias", [3])
    let tokens = try w.node(.patchEmbed, [image, weight, bias], ["patch": .int(2)])
    let loss = try w.total(tokens)
    let graph = try differentiate(w.graph(loss: loss))
    try Verifier.verify(graph)
    XCTAssertEqual(
      graph.programs[0].outputs.map(\.name),
      ["loss", "grad.student.embed.weight", "grad.student.embed.bias"],
      "patch_embed's image operand is not differentiable in ops.def")
  }

  func testCustomSelection() throws {
    let graph = try differentiate(mlp(), wrt: { $0.name.hasSuffix(".bias") })
    XCTAssertEqual(
      graph.programs[0].outputs.map(\.name),
      ["loss", "grad.student.fc.bias", "grad.student.norm.bias"])
  }
}

extension AutodiffTests {
  func testBackwardReadOfAnUpdatedBufferIsReported() throws {
    var b = GradientCheckBuilder(seed: 1)
    let weight = try b.parameter([3], name: "student.w")
    let center = try b.parameter([3], name: "center", trainable: false)
    let product = try b.node(.mul, [weight, center])
    let update = try b.node(.assign, [center, b.constant([3])])
    let loss = try b.weightedSum(product)
    var program = b.program
    program.outputs = [ProgramOutput(name: "loss", value: loss)]
    do {
      _ = try differentiate(Graph(programs: [program]))
      XCTFail("expected an error")
    } catch {
      XCTAssertEqual(
        error.message, "autodiff: the backward mul here reads 'center' after @train_step updates it"
      )
      XCTAssertEqual(error.loc, program[product].loc)
      XCTAssertEqual(error.notes, ["updated at \(program[update].loc)"])
    }
  }
}
