import DinoIR
import Foundation
import XCTest

/// End-to-end: the built dinoc compiles model.swift files through swiftc and DinoDSL.
final class CompileTests: XCTestCase {
  private var sample: String {
    DinocRunner.packageRoot.appendingPathComponent("Samples/mlp.swift").path
  }

  func testMLPSampleCompilesToTheExpectedGraph() throws {
    let wire = try DinocRunner.compileToWire(sample)
    let graph = try Graph(wire: wire)
    XCTAssertEqual(graph.programs.map(\.name), ["forward"])
    let forward = try XCTUnwrap(graph.program("forward"))
    XCTAssertEqual(
      forward.nodes.filter { $0.op == .input }.map(\.type), [TensorType(.f32, [8, 32])])
    XCTAssertEqual(forward.outputs.map(\.name), ["y"])
    XCTAssertEqual(forward[forward.outputs[0].value].type, TensorType(.f32, [8, 10]))
    let compute = forward.nodes.filter { !$0.op.isLeaf }.map(\.op.name)
    XCTAssertEqual(
      compute,
      [
        "layer_norm", "linear", "gelu", "linear", "add", "layer_norm", "linear", "gelu", "linear",
        "add",
        "layer_norm", "linear",
      ])
    var expected: [String] = []
    for block in 0..<2 {
      expected += [
        "norm.weight", "norm.bias", "mlp.fc1.weight", "mlp.fc1.bias", "mlp.fc2.weight",
        "mlp.fc2.bias",
      ]
      .map { "student.blocks.\(block).\($0)" }
    }
    expected += [
      "student.norm.weight", "student.norm.bias", "student.head.weight", "student.head.bias",
    ]
    let buffers = graph.buffers()
    XCTAssertEqual(buffers.map(\.name), expected)
    let byName = Dictionary(uniqueKeysWithValues: buffers.map { ($0.name, $0) })
    XCTAssertEqual(byName["student.blocks.1.mlp.fc1.weight"]?.type, TensorType(.f32, [64, 32]))
    XCTAssertEqual(byName["student.blocks.1.mlp.fc1.weight"]?.initSpec, "trunc_normal(0.02,-2,2)")
    XCTAssertEqual(byName["student.head.bias"]?.initSpec, "zeros")
    XCTAssertEqual(byName["student.norm.weight"]?.initSpec, "ones")
    XCTAssertTrue(buffers.allSatisfy(\.trainable))
    XCTAssertEqual(graph.hyper["batch"], 8)
    XCTAssertEqual(graph.metadata["option.depth"], "2")
    // Every node points into the sample; the residual add's location is inferred.
    XCTAssertTrue(forward.nodes.allSatisfy { $0.loc.file == sample && $0.loc.line > 0 })
    XCTAssertTrue(try XCTUnwrap(forward.nodes.first { $0.op == .add }).loc.inferred)
    XCTAssertEqual(forward.nodes.first { $0.op == .gelu }?.scope, "student.blocks.0.mlp")
  }

  func testOverridesReachTheModel() throws {
    let graph = try Graph(wire: DinocRunner.compileToWire(sample, ["-D", "dim=16", "-Ddepth=1"]))
    let forward = try XCTUnwrap(graph.program("forward"))
    XCTAssertEqual(forward.nodes.first { $0.op == .input }?.type, TensorType(.f32, [8, 16]))
    XCTAssertEqual(graph.buffers().count, 10)
    XCTAssertEqual(graph.metadata["option.dim"], "16")
  }

  func testShapeErrorsPointAtTheCallWithoutCascades() throws {
    let model = try DinocRunner.writeModel(
      """
      // dino-dsl-version: 1
      import DinoDSL

      final class Net: Layer {
        let fc = Linear(16, 8)
        func forward(_ x: Tensor) -> Tensor {
          gelu(fc(x))
        }
      }

      Model("bad") { model in
        let net = model.register(Net(), as: "student")
        model.program("forward") {
          let x = Input("x", [4, 32])
          let w = Input("w", [5, 7])
          let z = matmul(x, w)
          Output("y", net(x) + z)
          print("still running")
        }
      }
      """, for: self)
    let result = try DinocRunner.run(["compile", model])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.errorLines,
      [
        "\(model):16:19: error: matmul: [4,32] x [5,7] — inner dimensions differ",
        "\(model):7:12: error: linear: weight [8,16] expects last dim 16, got 32",
        "note: in scope student.fc (Linear), inside student (Net, called at \(model):17:20)",
      ])
    XCTAssertEqual(result.stdout, "still running\n")
  }

  func testErrorsBeforeACrashAreStillReported() throws {
    let model = try DinocRunner.writeModel(
      """
      // dino-dsl-version: 1
      import DinoDSL
      Model("crash") { model in
        model.program("forward") {
          let y = reshape(Input("x", [4, 32]), [3, -1])
          print(y.shape[5])
        }
      }
      """, for: self)
    let result = try DinocRunner.run(["compile", model])
    XCTAssertNotEqual(result.status, 0)
    let lines = result.errorLines
    XCTAssertTrue(
      lines.contains("\(model):5:20: error: reshape: cannot reshape [4,32] to [3,-1]"),
      result.stderr)
    XCTAssertTrue(
      lines.last?.hasPrefix("error: \(model) failed while building its graph (signal ") == true,
      result.stderr)
  }

  func testUnknownOverrideListsTheDeclaredOptions() throws {
    let result = try DinocRunner.run(["compile", sample, "-D", "widht=3"])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.errorLines,
      ["error: unknown option -D widht=3 (declared options: batch, classes, depth, dim, hidden)"])
  }

  func testBadOverrideValueIsReportedAtTheOption() throws {
    let result = try DinocRunner.run(["compile", sample, "-D", "dim=wide"])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.errorLines, ["\(sample):8:17: error: option -D dim=wide: expected an integer"])
  }

  func testSwiftErrorsPassThroughWithTheCommand() throws {
    let model = try DinocRunner.writeModel(
      "// dino-dsl-version: 1\nimport DinoDSL\nlet x = \n", for: self)
    let result = try DinocRunner.run(["compile", model])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertTrue(result.stderr.contains("\(model):3:"), result.stderr)
    let last = try XCTUnwrap(result.errorLines.last)
    XCTAssertTrue(last.hasPrefix("error: compiling \(model) failed (exit status 1): "), last)
    XCTAssertTrue(last.contains("swiftc -module-name Model -swift-version 6 "), last)
    XCTAssertTrue(last.contains(" -lDinoDSL "), last)
  }

  func testMissingVersionLine() throws {
    let model = try DinocRunner.writeModel("import DinoDSL\n", for: self)
    let result = try DinocRunner.run(["compile", model])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.errorLines, ["\(model):1:1: error: the first line must be '// dino-dsl-version: 1'"])
  }

  func testUnsupportedVersion() throws {
    let model = try DinocRunner.writeModel("// dino-dsl-version: 7\nimport DinoDSL\n", for: self)
    let result = try DinocRunner.run(["compile", model])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.errorLines,
      ["\(model):1:1: error: dino-dsl-version 7 is not supported; this dinoc reads version 1"])
  }

  func testMissingFileAndMissingLibrary() throws {
    let missing = try DinocRunner.run(["compile", "/nonexistent/model.swift"])
    XCTAssertNotEqual(missing.status, 0)
    XCTAssertEqual(missing.errorLines, ["error: no such file: /nonexistent/model.swift"])
    let noLibrary = try DinocRunner.run(
      ["compile", sample], environment: ["DINOC_DSL_LIBS": "/nonexistent"])
    XCTAssertNotEqual(noLibrary.status, 0)
    XCTAssertEqual(
      noLibrary.errorLines,
      ["error: DINOC_DSL_LIBS=/nonexistent does not hold libDinoDSL.so and DinoDSL.swiftmodule"])
  }
}
