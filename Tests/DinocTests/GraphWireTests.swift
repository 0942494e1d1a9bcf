import DinoIR
import XCTest

/// `Graph(wire:)` and its inverse `Wire.Module(_:)`.
final class GraphWireTests: XCTestCase {
  private let here = SourceLoc(file: "model.swift", line: 3, column: 9)

  private func node(_ op: String, _ operands: [Int] = [], _ attrs: Attributes = [:], _ shape: [Int])
    -> Wire.Node
  {
    Wire.Node(
      op: op, operands: operands, attrs: attrs, type: TensorType(.f32, shape), loc: here, scope: "")
  }

  private var valid: Wire.Module {
    Wire.Module(
      programs: [
        Wire.Program(
          name: "forward",
          nodes: [
            node("input", [], ["name": .string("x")], [2, 3]),
            node(
              "parameter", [],
              ["name": .string("student.w"), "init": .string("zeros"), "trainable": .int(1)],
              [4, 3]),
            node("matmul", [0, 1], ["trans_a": .int(0), "trans_b": .int(1)], [2, 4]),
            node("gelu", [2], [:], [2, 4]),
          ],
          outputs: [Wire.Output(name: "y", value: 3)])
      ],
      hyper: ["batch": 2], metadata: ["model": "t"])
  }

  private func message(_ wire: Wire.Module) -> CompileError? {
    do {
      _ = try Graph(wire: wire)
      return nil
    } catch {
      return error
    }
  }

  func testValidPayloadRoundTrips() throws {
    let graph = try Graph(wire: valid)
    XCTAssertEqual(graph.stage, "captured")
    XCTAssertEqual(graph.hyper, ["batch": 2])
    let forward = try XCTUnwrap(graph.program("forward"))
    XCTAssertEqual(forward.nodes.map(\.op), [.input, .parameter, .matmul, .gelu])
    XCTAssertEqual(forward.nodes[2].operands, [ValueID(0), ValueID(1)])
    XCTAssertEqual(forward.outputs, [ProgramOutput(name: "y", value: ValueID(3))])
    XCTAssertEqual(forward.nodes[3].loc, here)
    XCTAssertEqual(try Graph(wire: Wire.Module(graph)), graph)
  }

  func testVersionMismatch() {
    var wire = valid
    wire.version = 2
    XCTAssertEqual(
      message(wire)?.message,
      "the model's graph has wire version 2 but this dinoc reads version 1 (mismatched DinoDSL library)"
    )
  }

  func testUnknownOp() {
    var wire = valid
    wire.programs[0].nodes[3].op = "conv2d"
    let error = message(wire)
    XCTAssertEqual(
      error?.message, "unknown op 'conv2d' in %3 of @forward (mismatched DinoDSL library?)")
    XCTAssertEqual(error?.loc, here)
  }

  func testOperandMustBeAnEarlierNode() {
    var wire = valid
    wire.programs[0].nodes[2].operands = [0, 3]
    XCTAssertEqual(
      message(wire)?.message, "matmul: operand %3 of %2 in @forward is not an earlier node")
    wire.programs[0].nodes[2].operands = [-1, 1]
    XCTAssertEqual(
      message(wire)?.message, "matmul: operand %-1 of %2 in @forward is not an earlier node")
  }

  func testOutputMustNameANode() {
    var wire = valid
    wire.programs[0].outputs = [Wire.Output(name: "y", value: 9)]
    XCTAssertEqual(message(wire)?.message, "output 'y' of @forward names %9, which is not a node")
  }

  func testDSLErrorsAreNotIgnored() {
    var wire = valid
    wire.errors = [Wire.Diagnostic(message: "matmul: bad", loc: here, notes: ["in scope student"])]
    XCTAssertEqual(
      message(wire), CompileError("matmul: bad", at: here, notes: ["in scope student"]))
  }

  func testVerifierRunsOnTheDecodedGraph() {
    var wire = valid
    wire.programs[0].nodes[3].type = TensorType(.f32, [4, 2])
    XCTAssertEqual(
      message(wire)?.message, "gelu: stored type f32[4,2] differs from inferred f32[2,4]")
  }
}
