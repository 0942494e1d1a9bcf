import DinoIR
import Foundation
import XCTest

/// DinoDSL features beyond the sample, checked through the graph dinoc writes.
final class DSLFeatureTests: XCTestCase {
  func testNamingProgramsAndLocations() throws {
    let model = try DinocRunner.writeModel(
      """
      // dino-dsl-version: 1
      import DinoDSL

      final class Head: Layer {
        let layers = [Linear(4, 6), Linear(6, 6), Linear(6, 3, bias: false)]
        let scaleVector = Parameter([3], init: .ones)
        var parameterKeys: [String: String] { ["layers": "mlp", "layers.2": "mlp.4", "scaleVector": "scale_vector"] }
        func forward(_ x: Tensor) -> Tensor {
          var x = x
          for layer in layers { x = gelu(layer(x)) }
          return x * scaleVector.value
        }
      }

      final class Net: Layer {
        let head = Head()
        let norm: LayerNorm? = LayerNorm(3)
        func forward(_ x: Tensor) -> Tensor { norm!(head(x)) }
      }

      Model("features") { model in
        let student = model.register(Net(), as: "student")
        let teacher = model.register(Net(), as: "teacher", trainable: false, copying: "student")
        let center = model.register(Parameter([1, 3], trainable: false), as: "center")
        model.hyper["lr"] = 5e-4
        model.program("train_step") {
          let x = Input("x", [2, 4])
          let seed = Input("seed", [], dtype: .i32)
          let a = dropPathMask(seed: seed, rate: 0.1, batch: 2)
          let b = dropPathMask(seed: seed, rate: 0.1, batch: 2)
          let s = student(x) / 0.1
          let t = softmax((teacher(x) - center.value) * 25)
          let flat = reshape(t * s, [-1])
          Output("loss", -mean(sum(reshape(flat, [2, -1]), axis: -1), axis: 0) + sum(a + b, axis: 0))
        }
        model.program("features") {
          Output("features", teacher(Input("x", [5, 4])))
        }
      }
      """, for: self)
    let graph = try Graph(wire: DinocRunner.compileToWire(model))
    XCTAssertEqual(graph.programs.map(\.name), ["train_step", "features"])
    XCTAssertEqual(graph.hyper["lr"], 5e-4)
    let buffers = Dictionary(uniqueKeysWithValues: graph.buffers().map { ($0.name, $0) })
    for name in [
      "student.head.mlp.0.weight", "student.head.mlp.1.bias", "student.head.mlp.4.weight",
      "student.head.scale_vector", "student.norm.weight", "teacher.head.mlp.4.weight", "center",
    ] {
      XCTAssertNotNil(buffers[name], "missing \(name) in \(buffers.keys.sorted())")
    }
    XCTAssertNil(buffers["student.head.mlp.4.bias"])
    XCTAssertEqual(
      buffers["teacher.head.mlp.4.weight"]?.initSpec, "copy(student.head.mlp.4.weight)")
    XCTAssertEqual(buffers["teacher.head.mlp.4.weight"]?.trainable, false)
    XCTAssertEqual(buffers["student.head.mlp.4.weight"]?.trainable, true)
    XCTAssertEqual(buffers["center"]?.trainable, false)

    let step = try XCTUnwrap(graph.program("train_step"))
    XCTAssertEqual(
      step.nodes.filter { $0.op == .dropPathMask }.map { $0.attrs.int("stream") }, [0, 1])
    XCTAssertEqual(
      step.nodes.first { $0.op == .input && $0.attrs.string("name") == "seed" }?.type,
      TensorType(.i32, []))
    // `student(x) / 0.1` is a scale located at the `student(` call, inferred.
    let scale = try XCTUnwrap(
      step.nodes.first { $0.op == .scale && $0.attrs.float("factor") == 10 })
    XCTAssertEqual([scale.loc.line, scale.loc.column], [31, 20])
    XCTAssertTrue(scale.loc.inferred)
    XCTAssertEqual(
      step.nodes.filter { $0.op == .reshape }.map { $0.attrs.ints("shape") }, [[6], [2, 3]])
    XCTAssertEqual(step.nodes.first { $0.op == .reduceSum }?.attrs.int("axis"), 1)
    // Both programs read the teacher's buffers by the same names.
    let features = try XCTUnwrap(graph.program("features"))
    XCTAssertEqual(
      Set(features.nodes.compactMap(\.bufferName)),
      Set(step.nodes.compactMap(\.bufferName).filter { $0.hasPrefix("teacher.") }))
  }

  func testEveryOpPassesTheVerifier() throws {
    let model = try DinocRunner.writeModel(
      """
      // dino-dsl-version: 1
      import DinoDSL

      Model("ops") { model in
        let w = model.register(Parameter([6, 3, 2, 2], init: .truncNormal(std: 0.02)), as: "student.w")
        let b = model.register(Parameter([6]), as: "student.b")
        let v = model.register(Parameter([5, 6], init: .uniform(-0.5, 0.5)), as: "student.v")
        let g = model.register(Parameter([5, 1], init: .ones), as: "student.g")
        let t = model.register(Parameter([5, 1], init: .copy("student.g"), trainable: false), as: "teacher.g")
        let hb = model.register(Parameter([5]), as: "student.hb")
        let steps = model.register(Parameter([], trainable: false), as: "adam_step.student.v")
        model.program("ops") {
          let img = Input("img", [2, 3, 4, 4])
          let tokens = patchEmbed(img, w.value, b.value, patch: 2)               // [2,4,6]
          let raw = patchify(img, patch: 2)                                      // [2,4,12]
          let scores = matmul(tokens, raw, transposeA: true)                     // [2,6,12]
          let joined = concat([tokens, pad(tokens, axis: -1, before: 1, after: 2).transposed()
                                 .transposed()], axis: -1)                        // [2,4,15]
          let head = linear(b.value + tokens, weightNorm(v.value, g.value), hb.value)  // [2,4,5]
          let parts = mean(tokens, axis: 1, keepDims: true) - slice(joined, axis: 2, 0..<6)
          let cls = l2Normalize(sum(parts, axis: 1)) * scale(constant([1, 2, 3, 4, 5, 6], shape: [6]), by: 0.5)
          let spread = broadcast(cls, to: [3, 2, 6]) - sum(scores, to: [6, 1]).transposed()
          let probs = softmax(layerNorm(spread, weight: b.value, bias: b.value)) + logSoftmax(gelu(spread))
          let ratio = 1.0 - probs / (permute(probs, [0, 2, 1]).transposed() + 2)
          Output("ratio", ratio + log(allReduceSum(probs) + 3) * exp(ratio))
          Output("head", head)
          let crops = reshape(head, [8, 5])
          let targets = softmax(slice(crops, axis: 0, 0..<4))
          let xent = dinoCrossEntropy(student: crops, targets: targets, views: 4, studentTemp: 0.1)
          Output("coef", clipGradCoef(head, maxNorm: 3) + xent)
          let mask = dropPathMask(seed: Input("seed", [], dtype: .i32), rate: 0.25, batch: 2)
          Output("masked", reshape(head, [2, -1]) * reshape(mask, [2, 1]))
        }
        model.program("ema") {
          emaUpdate(t.value, g.value, momentum: Input("momentum", []))
          assign(t.value, g.value * 2)
          let one = constant(1)
          adamwUpdate(v.value, grad: v.value, m: v.value, v: v.value, step: steps.value, lr: one, wd: one, gate: one)
        }
      }
      """, for: self)
    let graph = try Graph(wire: DinocRunner.compileToWire(model))
    let used = Set(graph.programs.flatMap { $0.nodes.map(\.op.name) })
    let forwardOps = Set(OpKind.allOps.filter { $0.origin == .dsl }.map(\.name))
    XCTAssertEqual(used, forwardOps)
    let ops = try XCTUnwrap(graph.program("ops"))
    XCTAssertEqual(
      ops.outputs.map { ops[$0.value].type.shape }, [[3, 2, 6], [2, 4, 5], [], [2, 20]])
    // `a - b` with a smaller `a` broadcasts it explicitly; `a + b` with a smaller `a` swaps.
    XCTAssertEqual(
      ops.nodes.filter { $0.op == .broadcastTo }.map { $0.attrs.ints("shape") },
      [[2, 4, 6], [3, 2, 6]])
    let swapped = try XCTUnwrap(ops.nodes.first { $0.op == .add })
    XCTAssertEqual(swapped.operands.map { ops[$0].op }, [.patchEmbed, .parameter])
  }

  func testRegistrationAndProgramErrors() throws {
    let model = try DinocRunner.writeModel(
      """
      // dino-dsl-version: 1
      import DinoDSL

      let loose = Linear(3, 3)
      Model("errors") { model in
        let net = model.register(MLP(3, 4, 3), as: "student")
        model.register(net, as: "teacher")
        var kept: Tensor? = nil
        model.program("a") {
          let x = Input("x", [2, 3])
          kept = net(x)
          Output("y", loose(x))
        }
        model.program("b") {
          Output("y", gelu(kept!))
        }
        model.program("a") {}
        model.register(Parameter([2], init: .copy("student.fc9.weight")), as: "teacher.x")
        model.register(Parameter([2], init: .copy("student.fc1.bias")), as: "teacher.y")
        model.register(Parameter([2]), as: "student.fc1.bias")
      }
      """, for: self)
    let result = try DinocRunner.run(["compile", model])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertEqual(
      result.errorLines,
      [
        "\(model):7:17: error: this MLP is already registered as 'student'; create a separate instance for 'teacher'",
        "\(model):4:19: error: a parameter created here is used in @a but has no name; register its layer (or it) with model.register(_:as:)",
        "note: in scope <unregistered> (Linear, called at \(model):12:22)",
        "\(model):15:21: error: gelu: operand 0 was recorded in another program, not in @b",
        "\(model):17:16: error: program @a is declared twice",
        "note: first declared at \(model):9:16",
        "\(model):20:27: error: two parameters are named 'student.fc1.bias'",
        "note: the other was created at \(model):6:31",
        "\(model):18:27: error: 'teacher.x' is initialised as a copy of 'student.fc9.weight', which is not a registered parameter",
        "\(model):19:27: error: 'teacher.y' [2] is initialised as a copy of 'student.fc1.bias' [4]",
      ])
  }
}
