import DinoIR
import DinoPasses
import XCTest

/// Gradient check of a whole tiny DINO student: a 1-block pre-norm ViT, the DINO head with
/// L2 normalisation and a weight-normalised last layer, and the DINO cross-entropy against
/// a teacher branch (with its own parameters and the center) that must get no gradient.
final class AutodiffTransformerTests: XCTestCase {
  /// Builds the model; returns the loss.
  private func tinyDINO(_ b: inout GradientCheckBuilder) throws -> ValueID {
    let batch = 2
    let dim = 8
    let heads = 2
    let headDim = 4
    let tokens = 5
    func p(_ path: String, _ shape: [Int], _ lo: Double = -0.5, _ hi: Double = 0.5) throws
      -> ValueID
    {
      try b.parameter(shape, lo, hi, name: "student.\(path)")
    }
    func linear(_ x: ValueID, _ path: String, _ out: Int, _ inDim: Int) throws -> ValueID {
      let w = try p("\(path).weight", [out, inDim])
      let bias = try p("\(path).bias", [out])
      return try b.node(.linear, [x, w, bias])
    }
    func norm(_ x: ValueID, _ path: String) throws -> ValueID {
      let gamma = try p("\(path).weight", [dim], 0.5, 1.5)
      let beta = try p("\(path).bias", [dim])
      return try b.node(.layerNorm, [x, gamma, beta], ["eps": .float(1e-6)])
    }
    func slice(_ x: ValueID, axis: Int, _ start: Int, _ end: Int) throws -> ValueID {
      try b.node(.slice, [x], ["axis": .int(axis), "start": .int(start), "end": .int(end)])
    }

    // Backbone: patch embedding, CLS token, position embedding.
    let image = try b.input([batch, 3, 4, 4])
    let patches = try b.node(
      .patchEmbed,
      [
        image, p("backbone.patch_embed.proj.weight", [dim, 3, 2, 2]),
        p("backbone.patch_embed.proj.bias", [dim]),
      ],
      ["patch": .int(2)])
    let cls = try b.node(
      .broadcastTo, [p("backbone.cls_token", [1, 1, dim])], ["shape": .ints([batch, 1, dim])])
    var x = try b.node(.concat, [cls, patches], ["axis": .int(1)])
    x = try b.node(.add, [x, p("backbone.pos_embed", [1, tokens, dim])])

    // One pre-norm block: attention.
    let qkv = try linear(
      norm(x, "backbone.blocks.0.norm1"), "backbone.blocks.0.attn.qkv", 3 * dim, dim)
    let split = try b.permute(b.reshape(qkv, [batch, tokens, 3, heads, headDim]), [2, 0, 3, 1, 4])
    let q = try b.reshape(slice(split, axis: 0, 0, 1), [batch, heads, tokens, headDim])
    let k = try b.reshape(slice(split, axis: 0, 1, 2), [batch, heads, tokens, headDim])
    let v = try b.reshape(slice(split, axis: 0, 2, 3), [batch, heads, tokens, headDim])
    let scores = try b.node(.scale, [b.matmul(q, k, false, true)], ["factor": .float(0.5)])
    let attention = try b.node(.softmax, [scores])
    let mixed = try b.reshape(
      b.permute(b.matmul(attention, v), [0, 2, 1, 3]), [batch, tokens, dim])
    x = try b.node(.add, [x, linear(mixed, "backbone.blocks.0.attn.proj", dim, dim)])

    // The MLP.
    let hidden = try b.node(
      .gelu, [linear(norm(x, "backbone.blocks.0.norm2"), "backbone.blocks.0.mlp.fc1", 2 * dim, dim)]
    )
    x = try b.node(.add, [x, linear(hidden, "backbone.blocks.0.mlp.fc2", dim, 2 * dim)])
    let features = try b.reshape(slice(norm(x, "backbone.norm"), axis: 1, 0, 1), [batch, dim])

    // DINO head: MLP, L2 normalisation, weight-normalised last layer without bias.
    let h = try b.node(.gelu, [linear(features, "head.mlp.0", 6, dim)])
    let z = try b.node(.l2Normalize, [linear(h, "head.mlp.2", 4, 6)], ["eps": .float(1e-12)])
    let prototypes = try b.node(
      .weightNorm,
      [p("head.last_layer.weight_v", [5, 4]), p("head.last_layer.weight_g", [5, 1], 0.5, 1.5)])
    let studentLogits = try b.matmul(z, prototypes, false, true)
    let logProbabilities = try b.node(
      .logSoftmax, [b.node(.scale, [studentLogits], ["factor": .float(1 / 0.1)])])

    // Teacher branch: its own (trainable, but teacher-region) weights and the center.
    let teacherFeatures = try b.constant([batch, dim])
    let teacherLogits = try b.node(
      .linear,
      [
        teacherFeatures, b.parameter([5, dim], name: "teacher.head.weight"),
        b.parameter([5], name: "teacher.head.bias"),
      ])
    let centered = try b.node(
      .sub, [teacherLogits, b.parameter([1, 5], -0.1, 0.1, name: "center", trainable: false)])
    let targets = try b.node(.softmax, [b.node(.scale, [centered], ["factor": .float(1 / 0.04)])])

    // Cross-entropy, mean over the batch.
    let perSample = try b.reduce(.reduceSum, b.node(.mul, [targets, logProbabilities]), axis: 1)
    return try b.node(.scale, [b.reduce(.reduceMean, perSample, axis: 0)], ["factor": .float(-1)])
  }

  func testTinyViTAndDINOLossAgreeWithFiniteDifferences() throws {
    var builder = GradientCheckBuilder(seed: 42)
    let loss = try tinyDINO(&builder)
    let figures = try agreements(builder, loss: loss)
    let studentCount = Set(builder.feeds.keys.filter { $0.hasPrefix("student.") }).count
    XCTAssertEqual(figures.count, studentCount)
    XCTAssertEqual(studentCount, 24)
    var worst = (relativeError: 0.0, cosine: 1.0, name: "")
    for agreement in figures {
      XCTAssertLessThan(agreement.relativeError, 1e-6, agreement.parameter)
      XCTAssertGreaterThan(agreement.cosine, 0.999_999, agreement.parameter)
      if agreement.relativeError > worst.relativeError {
        worst = (agreement.relativeError, worst.cosine, agreement.parameter)
      }
      worst.cosine = min(worst.cosine, agreement.cosine)
    }
    print(
      "autodiff gradient check, tiny ViT + DINO head/loss, \(figures.count) parameters:",
      "worst relative error", worst.relativeError, "(\(worst.name)), worst cosine", worst.cosine)
  }

  func testTeacherAndCenterReceiveNoGradient() throws {
    var builder = GradientCheckBuilder(seed: 42)
    let loss = try tinyDINO(&builder)
    var forward = builder.program
    forward.outputs = [ProgramOutput(name: "loss", value: loss)]
    let graph = try differentiate(Graph(programs: [forward]))
    let names = graph.programs[0].outputs.map(\.name)
    XCTAssertEqual(names.filter { $0.hasPrefix("grad.student.") }.count, 24)
    XCTAssertEqual(names.filter { !$0.hasPrefix("grad.student.") }, ["loss"])
    let backward = graph.programs[0].nodes.dropFirst(forward.nodes.count)
    XCTAssertEqual(backward.filter { $0.op == .softmaxBwd }.count, 1, "attention only, not targets")
  }
}
