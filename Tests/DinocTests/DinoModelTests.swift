import DinoIR
import Foundation
import XCTest
import _DinoTestSupport

/// The DINO samples compiled by the built dinoc: the official parameter names, shapes and
/// initialisers, the programs and their interfaces, and — evaluated in Double on the official
/// reference weights — the loss and the center update of official DINO.
final class DinoModelTests: XCTestCase {
  private static let cases = ["step_epoch0", "step_epoch1", "step_epoch1_nll0"]

  private func sample(_ name: String) -> String {
    DinocRunner.packageRoot.appendingPathComponent("Samples/\(name).swift").path
  }

  private func compile(_ name: String, _ flags: [String]) throws -> Graph {
    try Graph(wire: DinocRunner.compileToWire(sample(name), flags))
  }

  /// Runs `program` in the shared Double reference interpreter: the value of every node and
  /// the buffers after its effects.
  private func evaluate(
    _ program: Program, inputs: [String: ReferenceTensor], buffers: [String: ReferenceTensor]
  ) throws -> (values: [ReferenceTensor], buffers: [String: ReferenceTensor]) {
    var buffers = buffers
    let values = try ReferenceInterpreter.values(program, inputs: inputs, buffers: &buffers)
    return (values, buffers)
  }

  /// The value of output `name` of `program` among `values`.
  private func output(_ name: String, _ program: Program, _ values: [ReferenceTensor]) throws
    -> ReferenceTensor
  {
    let value = try XCTUnwrap(program.outputs.first { $0.name == name }?.value)
    return values[value.index]
  }

  private func inputs(_ program: Program) -> [String: TensorType] {
    Dictionary(
      uniqueKeysWithValues: program.nodes.filter { $0.op == .input }.map {
        ($0.attrs.string("name"), $0.type)
      })
  }

  // MARK: - Parameters

  func testParityModelHasTheOfficialParameterNamesShapesAndInits() throws {
    for name in Self.cases {
      let reference = try ReferenceFiles.open("\(name).init")
      let graph = try compile("fashion_mnist", reference.defineFlags())
      let buffers = graph.buffers()
      XCTAssertEqual(Set(buffers.map(\.name)), Set(reference.entries.keys), name)
      XCTAssertEqual(buffers.count, reference.entries.count, name)
      let normLastLayer = reference.metadata["defines"]?.contains("\"norm_last_layer\": 1") ?? true
      for buffer in buffers {
        XCTAssertEqual(buffer.type.shape, reference.entries[buffer.name]?.shape, buffer.name)
        let path = buffer.name.split(separator: ".", maxSplits: 1).last.map(String.init) ?? ""
        switch buffer.region {
        case "student":
          XCTAssertEqual(
            buffer.trainable, !(path == "head.last_layer.weight_g" && normLastLayer),
            buffer.name)
          XCTAssertEqual(buffer.initSpec, expectedInit(path), buffer.name)
        case "teacher":
          XCTAssertFalse(buffer.trainable, buffer.name)
          XCTAssertEqual(buffer.initSpec, "copy(student.\(path))", buffer.name)
        default:
          XCTAssertEqual(buffer.name, "center")
          XCTAssertEqual(buffer.initSpec, "zeros")
          XCTAssertFalse(buffer.trainable)
        }
      }
    }
  }

  /// Official DINO's initialisation of a student parameter at `path` (docs/DINO.md §2.4, §3)
  /// for the parity sizes: patch 4, 1 channel, bottleneck 16.
  private func expectedInit(_ path: String) -> String {
    if path.hasPrefix("backbone.patch_embed.proj.") { return "uniform(-0.25,0.25)" }  // 1/√(1·4²)
    if path == "head.last_layer.weight_v" { return "uniform(-0.25,0.25)" }  // 1/√16
    if path == "head.last_layer.weight_g" { return "ones" }
    if path.hasSuffix("cls_token") || path.hasSuffix("pos_embed") {
      return "trunc_normal(0.02,-2,2)"
    }
    if path.contains("norm") { return path.hasSuffix(".weight") ? "ones" : "zeros" }
    return path.hasSuffix(".weight") ? "trunc_normal(0.02,-2,2)" : "zeros"
  }

  // MARK: - Numerics against official DINO

  /// The train_step forward, run in Double on the official initial weights and crops, gives
  /// official DINO's loss, and its `assign` gives official DINO's updated center.
  func testTrainStepLossAndCenterMatchOfficialDINO() throws {
    for name in Self.cases {
      let initial = try ReferenceFiles.open("\(name).init")
      let crops = try ReferenceFiles.open("\(name).crops")
      let expected = try ReferenceFiles.open("\(name).expected")
      let graph = try compile("fashion_mnist", initial.defineFlags())
      let program = try XCTUnwrap(graph.program("train_step"))
      var feeds = try crops.referenceTensors()
      let teacherTemp = try XCTUnwrap(Double(initial.metadata["teacher_temp"] ?? ""))
      feeds["teacher_temp"] = ReferenceTensor(scalar: teacherTemp)
      feeds["seed"] = ReferenceTensor(scalar: 0)
      let run = try evaluate(program, inputs: feeds, buffers: initial.referenceTensors())
      let loss = try XCTUnwrap(output("loss", program, run.values).scalar)
      let officialLoss = try XCTUnwrap(Double(initial.metadata["loss"] ?? ""))
      // The reference ran in float64 on these (float32-valued) inputs: the graph's Double
      // evaluation agrees to rounding.
      XCTAssertEqual(loss, officialLoss, accuracy: 1e-10 * officialLoss, name)
      let center = try XCTUnwrap(run.buffers["center"])
      let officialCenter = try expected.doubles("center")
      XCTAssertEqual(center.shape, [1, 64])
      let error = zip(center.data, officialCenter).map { abs($0 - $1) }.max() ?? .infinity
      XCTAssertLessThan(error, 1e-7, "\(name): center max abs error \(error)")
    }
  }

  // MARK: - Programs

  func testProgramsAndTheirInterfaces() throws {
    let reference = try ReferenceFiles.open("step_epoch0.init")
    let graph = try compile("fashion_mnist", reference.defineFlags())
    XCTAssertEqual(graph.programs.map(\.name), ["train_step", "features", "attention"])
    let train = try XCTUnwrap(graph.program("train_step"))
    XCTAssertEqual(
      inputs(train),
      [
        "crop0": TensorType(.f32, [2, 1, 28, 28]), "crop1": TensorType(.f32, [2, 1, 28, 28]),
        "crop2": TensorType(.f32, [2, 1, 12, 12]), "crop3": TensorType(.f32, [2, 1, 12, 12]),
        "teacher_temp": .scalar, "seed": TensorType(.i32, []),
      ])
    XCTAssertEqual(
      train.outputs.map(\.name),
      ["loss", "teacher_entropy", "teacher_mean_entropy", "center_norm"])
    XCTAssertEqual(train[train.outputs[0].value].type, .scalar)
    // One center update, after every read of the center.
    let assigns = train.nodes.indices.filter { train.nodes[$0].op == .assign }
    XCTAssertEqual(assigns.count, 1)
    let centerNode = try XCTUnwrap(train.nodes.firstIndex { $0.bufferName == "center" })
    let lastRead = train.nodes.indices.last { i in
      train.nodes[i].op != .assign && train.nodes[i].operands.contains(ValueID(centerNode))
    }
    XCTAssertLessThan(try XCTUnwrap(lastRead), assigns[0])
    // The teacher sees only the two global crops: its patch embedding runs once on [4,1,28,28],
    // the student's twice (globals and locals), and the head once per network.
    let embeds = train.nodes.filter { $0.op == .patchEmbed }
    XCTAssertEqual(
      embeds.map(\.scope).sorted(),
      [
        "student.backbone.patch_embed.proj", "student.backbone.patch_embed.proj",
        "teacher.backbone.patch_embed.proj",
      ])
    XCTAssertEqual(
      embeds.map { train[$0.operands[0]].type.shape },
      [[4, 1, 28, 28], [4, 1, 12, 12], [4, 1, 28, 28]])
    XCTAssertEqual(train.nodes.filter { $0.op == .weightNorm }.count, 2)

    let features = try XCTUnwrap(graph.program("features"))
    XCTAssertEqual(inputs(features), ["image": TensorType(.f32, [2, 1, 28, 28])])
    XCTAssertEqual(features.outputs.map(\.name), ["features"])
    XCTAssertEqual(features[features.outputs[0].value].type, TensorType(.f32, [2, 32]))
    let attention = try XCTUnwrap(graph.program("attention"))
    XCTAssertEqual(inputs(attention), ["image": TensorType(.f32, [2, 1, 28, 28])])
    XCTAssertEqual(attention.outputs.map(\.name), ["attention"])
    XCTAssertEqual(attention[attention.outputs[0].value].type, TensorType(.f32, [2, 2, 49]))
    for program in [features, attention] {
      XCTAssertTrue(
        program.nodes.compactMap(\.bufferName).allSatisfy { $0.hasPrefix("teacher.backbone.") },
        program.name)
    }
  }

  /// `features` is the teacher backbone's normalised CLS output and `attention` the last
  /// block's CLS-query softmax over the patch keys (official `get_last_selfattention(x)[:, :,
  /// 0, 1:]`): both programs, evaluated on the reference weights, agree with the same
  /// computation done by hand from train_step's building blocks.
  func testFeaturesAndAttentionPrograms() throws {
    let initial = try ReferenceFiles.open("step_epoch0.init")
    let crops = try ReferenceFiles.open("step_epoch0.crops")
    let graph = try compile("fashion_mnist", initial.defineFlags())
    let buffers = try initial.referenceTensors()
    let image = ["image": ReferenceTensor(shape: [2, 1, 28, 28], data: try crops.doubles("crop0"))]
    let features = try XCTUnwrap(graph.program("features"))
    let featureRun = try evaluate(features, inputs: image, buffers: buffers)
    let f = try output("features", features, featureRun.values)
    // The output is the final LayerNorm of the CLS row, with the teacher's norm parameters.
    let norm = try XCTUnwrap(
      features[features.outputs[0].value].op == .layerNorm
        ? features[features.outputs[0].value] : nil)
    XCTAssertEqual(features[norm.operands[1]].bufferName, "teacher.backbone.norm.weight")
    let gamma = try initial.doubles("teacher.backbone.norm.weight")
    let beta = try initial.doubles("teacher.backbone.norm.bias")
    let cls = featureRun.values[norm.operands[0].index]
    XCTAssertEqual(cls.shape, [2, 32])
    for row in 0..<2 {
      let x = Array(cls.data[(row * 32)..<((row + 1) * 32)])
      let mean = x.reduce(0, +) / 32
      let variance = x.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / 32
      for d in 0..<32 {
        let y = (x[d] - mean) / (variance + 1e-6).squareRoot() * gamma[d] + beta[d]
        XCTAssertEqual(f.data[row * 32 + d], y, accuracy: 1e-12)
      }
    }
    let attention = try XCTUnwrap(graph.program("attention"))
    let attentionRun = try evaluate(attention, inputs: image, buffers: buffers)
    let a = try output("attention", attention, attentionRun.values)
    XCTAssertEqual(a.shape, [2, 2, 49])
    // The full softmax [2, 2, 50, 50] of the last block: row 0, keys 1…49.
    let softmaxes = attention.nodes.indices.filter { attention.nodes[$0].op == .softmax }
    let full = attentionRun.values[try XCTUnwrap(softmaxes.last)]
    XCTAssertEqual(full.shape, [2, 2, 50, 50])
    XCTAssertEqual(
      attention.nodes[try XCTUnwrap(softmaxes.last)].scope, "teacher.backbone.blocks.1.attn")
    for bh in 0..<4 {
      XCTAssertEqual(
        Array(a.data[(bh * 49)..<((bh + 1) * 49)]),
        Array(full.data[(bh * 2500 + 1)..<(bh * 2500 + 50)]))
      XCTAssertEqual(full.data[(bh * 2500)..<(bh * 2500 + 50)].reduce(0, +), 1, accuracy: 1e-12)
    }
    // Blocks 0 … depth−2 run whole; the last block only up to its attention weights.
    XCTAssertFalse(attention.nodes.contains { $0.scope.hasPrefix("teacher.backbone.blocks.1.mlp") })
    XCTAssertTrue(attention.nodes.contains { $0.scope.hasPrefix("teacher.backbone.blocks.0.mlp") })
  }

  // MARK: - Stochastic depth

  func testDropPathMasksPerBlockBranchAndResolutionGroup() throws {
    let reference = try ReferenceFiles.open("step_epoch0.init")
    // A later -D for the same key wins (DinocRunner merges repeats; dinoc refuses them).
    let flags =
      try reference.defineFlags() + [
        "-D", "drop_path=0.1", "-D", "depth=3", "-D", "local_crops=3",
      ]
    let graph = try compile("fashion_mnist", flags)
    let train = try XCTUnwrap(graph.program("train_step"))
    let masks = train.nodes.filter { $0.op == .dropPathMask }
    // linspace(0, 0.1, 3) in float32 = [0, 0.05, 0.1]; block 0 has none; streams
    // g·2·depth + 2i + branch; batch 2B = 4 for the globals, 3B = 6 for the locals.
    let rates = [0, Double(Float(0.1) / 2), Double(Float(0.1))]
    var expected: [String] = []
    for (group, batch) in [(0, 4), (1, 6)] {
      for block in 1..<3 {
        for branch in 0..<2 {
          expected.append("\(group * 6 + 2 * block + branch) \(batch) \(rates[block])")
        }
      }
    }
    XCTAssertEqual(
      masks.map { "\($0.attrs.int("stream")) \($0.attrs.int("batch")) \($0.attrs.float("rate"))" },
      expected)
    XCTAssertTrue(masks.allSatisfy { $0.scope.hasPrefix("student.backbone.blocks.") })
    // Each mask scales a branch output (attn.proj or mlp.fc2), which is added to the residual.
    let users = train.users()
    for (index, node) in train.nodes.enumerated() where node.op == .dropPathMask {
      let reshaped = try XCTUnwrap(users[index].first)
      let product = try XCTUnwrap(users[reshaped.index].first)
      XCTAssertEqual(train[product].op, .mul)
      let branch = train[train[product].operands[0]]
      XCTAssertEqual(branch.op, .linear)
      XCTAssertTrue(branch.scope.hasSuffix(".attn.proj") || branch.scope.hasSuffix(".mlp.fc2"))
      XCTAssertEqual(users[product.index].map { train[$0].op }, [.add])
    }
    for name in ["features", "attention"] {
      XCTAssertFalse(try XCTUnwrap(graph.program(name)).nodes.contains { $0.op == .dropPathMask })
    }
  }

  // MARK: - The ViT-Tiny sample

  func testViTTinySampleHasOfficialDefaults() throws {
    let graph = try compile("vit_tiny_dino", [])
    let official: [String: Double] = [
      "batch": 8, "channels": 3, "global_size": 224, "local_size": 96, "local_crops": 8,
      "global_scale_min": 0.4, "global_scale_max": 1, "local_scale_min": 0.05,
      "local_scale_max": 0.4, "blur_sigma_min": 0.1, "blur_sigma_max": 2, "epochs": 100,
      "warmup_epochs": 10, "lr": 0.0005, "min_lr": 1e-6, "weight_decay": 0.04,
      "weight_decay_end": 0.4, "momentum_teacher": 0.996,
      "teacher_temp": 0.04, "warmup_teacher_temp": 0.04, "warmup_teacher_temp_epochs": 0,
      "clip_grad": 3, "freeze_last_layer": 1, "seed": 0, "student_temp": 0.1, "drop_path": 0.1,
      "norm_last_layer": 1, "out_dim": 65536, "dim": 192, "depth": 12, "heads": 3, "patch": 16,
      "hidden_dim": 2048, "bottleneck_dim": 256,
    ]
    XCTAssertEqual(graph.hyper, official)
    let train = try XCTUnwrap(graph.program("train_step"))
    XCTAssertEqual(inputs(train).count, 12)
    XCTAssertEqual(inputs(train)["crop9"], TensorType(.f32, [8, 3, 96, 96]))
    let students = graph.buffers().filter { $0.region == "student" }
    // ViT-Tiny/16 (timm's count, 5 524 416 with the 197-entry table) plus the DINO head.
    let d = 192
    let backbone = 3 * 256 * d + d + d + 197 * d + 12 * (12 * d * d + 13 * d) + 2 * d
    let head = (d * 2048 + 2048) + (2048 * 2048 + 2048) + (2048 * 256 + 256) + 65536 * 257
    XCTAssertEqual(backbone, 5_524_416)
    XCTAssertEqual(students.reduce(0) { $0 + $1.type.count }, backbone + head)
    let rates = train.nodes.filter { $0.op == .dropPathMask }.map { $0.attrs.float("rate") }
    XCTAssertEqual(rates.count, 2 * 2 * 11)
    XCTAssertEqual(Set(rates), Set(dropPathRatesFloat32(0.1, 12).dropFirst()))
  }

  /// The `fmnist` benchmark configuration by default; every key overridable with -D.
  func testFashionMNISTDefaultsAndOverrides() throws {
    let defaults = try compile("fashion_mnist", [])
    let fmnist: [String: Double] = [
      "batch": 64, "channels": 1, "global_size": 28, "local_size": 12, "local_crops": 6,
      "patch": 4, "dim": 192, "depth": 6, "heads": 3, "hidden_dim": 1024, "bottleneck_dim": 128,
      "out_dim": 4096, "drop_path": 0.1, "norm_last_layer": 1, "lr": 0.0005, "epochs": 100,
    ]
    for (key, value) in fmnist { XCTAssertEqual(defaults.hyper[key], value, key) }
    let train = try XCTUnwrap(defaults.program("train_step"))
    XCTAssertEqual(inputs(train).count, 8 + 2)
    XCTAssertEqual(inputs(train)["crop7"], TensorType(.f32, [64, 1, 12, 12]))

    let overrides: [String: String] = [
      "lr": "0.001", "min_lr": "2e-06", "weight_decay": "0.05", "weight_decay_end": "0.3",
      "momentum_teacher": "0.99", "teacher_temp": "0.07", "warmup_teacher_temp": "0.03",
      "warmup_teacher_temp_epochs": "5", "student_temp": "0.2", "clip_grad": "0",
      "freeze_last_layer": "2", "epochs": "20", "warmup_epochs": "3", "seed": "7",
      "global_scale_min": "0.3", "global_scale_max": "0.9", "local_scale_min": "0.1",
      "local_scale_max": "0.3", "norm_last_layer": "false", "drop_path": "0.2", "dim": "16",
      "depth": "1", "heads": "4", "out_dim": "8", "hidden_dim": "8", "bottleneck_dim": "4",
      "batch": "3", "local_crops": "1", "global_size": "16", "local_size": "8", "patch": "8",
      "channels": "2",
    ]
    let graph = try compile(
      "fashion_mnist", overrides.keys.sorted().flatMap { ["-D", "\($0)=\(overrides[$0]!)"] })
    for (key, text) in overrides {
      let expected = text == "false" ? 0 : Double(text)
      XCTAssertEqual(graph.hyper[key], expected, key)
    }
    let buffers = Dictionary(uniqueKeysWithValues: graph.buffers().map { ($0.name, $0) })
    XCTAssertEqual(buffers["student.backbone.pos_embed"]?.type.shape, [1, 5, 16])
    XCTAssertEqual(buffers["student.backbone.patch_embed.proj.weight"]?.type.shape, [16, 2, 8, 8])
    XCTAssertEqual(buffers["student.head.last_layer.weight_v"]?.type.shape, [8, 4])
    XCTAssertEqual(buffers["student.head.last_layer.weight_g"]?.trainable, true)
    XCTAssertEqual(
      inputs(try XCTUnwrap(graph.program("train_step")))["crop2"], TensorType(.f32, [3, 2, 8, 8]))
  }

  /// torch.linspace(0, rate, n) in float32, written out independently of DinoDSL.
  private func dropPathRatesFloat32(_ rate: Double, _ n: Int) -> [Double] {
    let step = Float(rate) / Float(n - 1)
    return (0..<n).map {
      Double($0 < n / 2 ? step * Float($0) : Float(rate) - step * Float(n - 1 - $0))
    }
  }

  /// Local crops use the 14 × 14 table resampled by a constant map; the globals use it as is.
  func testViTTinyInterpolatesThePositionTableForOtherCropSizes() throws {
    let flags = [
      "-D", "dim=16", "-D", "depth=1", "-D", "heads=2", "-D", "out_dim=32", "-D", "hidden_dim=16",
      "-D", "bottleneck_dim=8", "-D", "batch=1", "-D", "global_size=32", "-D", "local_size=16",
      "-D", "local_crops=2",
    ]
    let graph = try compile("vit_tiny_dino", flags)
    let train = try XCTUnwrap(graph.program("train_step"))
    let table = try XCTUnwrap(graph.buffers().first { $0.name == "student.backbone.pos_embed" })
    XCTAssertEqual(table.type.shape, [1, 197, 16])
    // 32 px → 2 × 2 patches, 16 px → 1 × 1: maps [5, 197] and [2, 197], used by matmul.
    let maps = train.nodes.indices.filter {
      train.nodes[$0].op == .constant && train.nodes[$0].type.rank == 2
    }
    XCTAssertEqual(
      maps.map { train.nodes[$0].type.shape }.sorted { $0[0] < $1[0] },
      [[2, 197], [5, 197], [5, 197]])
    let users = train.users()
    for map in maps {
      XCTAssertEqual(users[map].map { train[$0].op }, [.matmul])
      XCTAssertEqual(
        train.nodes[map].attrs.floats("data").map(Double.init),
        posEmbedMap(rows: train.nodes[map].type.shape[0] == 5 ? 2 : 1))
    }
  }

  /// The interpolation map as DinoDSL exposes it.
  private func posEmbedMap(rows: Int) -> [Double] {
    DinoDSLBridge.posEmbedMap(grid: 14, rows: rows)
  }

  // MARK: - Errors

  func testBadSizesAreReportedAtTheSample() throws {
    let result = try DinocRunner.run([
      "compile", sample("fashion_mnist"), "-D", "dim=32", "-D", "heads=5", "-D", "global_size=30",
    ])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertTrue(
      result.stderr.contains("error: attention: dim 32 is not a multiple of heads 5"),
      result.stderr)
    XCTAssertTrue(
      result.stderr.contains(
        "error: DINO: global_size 30 is not a positive multiple of the patch 4"),
      result.stderr)
    XCTAssertTrue(result.stderr.contains("fashion_mnist.swift:"), result.stderr)
  }
}
