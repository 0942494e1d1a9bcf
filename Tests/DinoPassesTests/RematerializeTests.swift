import DinoIR
@testable import DinoPasses
import XCTest
import _DinoTestSupport

/// The `remat` pass (`dinoc compile --memory-limit`): what it recomputes, that the plan
/// fits, that the step computes the same values (Double reference interpreter), and the
/// refusal of a limit nothing fits.
final class RematerializeTests: XCTestCase {
  /// A two-block pre-norm transformer `train_step` on odd shapes (attention and a GELU
  /// MLP per block) with a log-softmax loss: the pipeline fuses its layer norms and fc1
  /// GELUs, lowers AdamW and keeps every block's activations for the backward.
  static func model(
    batch: Int = 3, tokens: Int = 7, dim: Int = 12, heads: Int = 2
  ) throws -> Graph {
    var p = ProgramBuilder(name: "train_step")
    var x = p.input("x", [batch, tokens, dim])
    func param(_ name: String, _ shape: [Int], _ initSpec: String = "normal(0.3)") -> ValueID {
      p.parameter("student.\(name)", shape, init: initSpec)
    }
    func norm(_ x: ValueID, _ name: String) throws -> ValueID {
      try p.op(
        .layerNorm, x, param("\(name).weight", [dim], "ones"), param("\(name).bias", [dim]),
        attrs: ["eps": .float(1e-6)])
    }
    func linear(_ x: ValueID, _ name: String, _ out: Int, _ inDim: Int) throws -> ValueID {
      try p.op(.linear, x, param("\(name).weight", [out, inDim]), param("\(name).bias", [out]))
    }
    func reshape(_ x: ValueID, _ shape: [Int]) throws -> ValueID {
      try p.op(.reshape, x, attrs: ["shape": .ints(shape)])
    }
    func permute(_ x: ValueID, _ perm: [Int]) throws -> ValueID {
      try p.op(.permute, x, attrs: ["perm": .ints(perm)])
    }
    let headDim = dim / heads
    for block in 0..<2 {
      let name = "blocks.\(block)"
      let qkv = try linear(norm(x, "\(name).norm1"), "\(name).qkv", 3 * dim, dim)
      let split = try permute(reshape(qkv, [batch, tokens, 3, heads, headDim]), [2, 0, 3, 1, 4])
      func part(_ k: Int) throws -> ValueID {
        try reshape(
          p.op(.slice, split, attrs: ["axis": .int(0), "start": .int(k), "end": .int(k + 1)]),
          [batch, heads, tokens, headDim])
      }
      let scores = try p.op(
        .matmul, part(0), part(1), attrs: ["trans_a": .int(0), "trans_b": .int(1)])
      let attention = try p.op(.softmax, p.op(.scale, scores, attrs: ["factor": .float(0.4)]))
      let mixed = try p.op(
        .matmul, attention, part(2), attrs: ["trans_a": .int(0), "trans_b": .int(0)])
      let merged = try reshape(permute(mixed, [0, 2, 1, 3]), [batch, tokens, dim])
      x = try p.op(.add, x, linear(merged, "\(name).proj", dim, dim))
      let hidden = try p.op(.gelu, linear(norm(x, "\(name).norm2"), "\(name).fc1", 4 * dim, dim))
      x = try p.op(.add, x, linear(hidden, "\(name).fc2", dim, 4 * dim))
    }
    let logits = try linear(reshape(norm(x, "norm"), [batch * tokens, dim]), "head", 5, dim)
    let picked = try p.op(
      .reduceMean, p.op(.logSoftmax, logits), attrs: ["axis": .int(1), "keepdims": .int(0)])
    let loss = try p.op(
      .scale, p.op(.reduceMean, picked, attrs: ["axis": .int(0), "keepdims": .int(0)]),
      attrs: ["factor": .float(-1)])
    p.output("loss", loss)
    return Graph(programs: [p.program], hyper: ["clip_grad": 0])
  }

  /// Arenas, persistent regions and input staging of a planned graph (what the limit counts).
  static func needs(_ graph: Graph) -> Int {
    var bytes = PersistentLayout(graph).regionBytes.values.reduce(0, +)
    for program in graph.programs {
      bytes += program.arenaBytes ?? 0
      bytes += program.nodes.filter { $0.op == .input }.reduce(0) { $0 + $1.type.byteSize }
    }
    return bytes
  }

  /// The outputs and the buffers after one `train_step` in the Double reference.
  static func step(_ graph: Graph) throws -> [String: ReferenceTensor] {
    let program = try XCTUnwrap(graph.program("train_step"))
    var inputs: [String: ReferenceTensor] = [:]
    let leaves = program.nodes.filter { $0.op == .input }.sorted {
      $0.attrs.string("name") < $1.attrs.string("name")
    }
    for (k, node) in leaves.enumerated() {
      let floats = randomFloats(node.type.count, seed: UInt64(k), scale: 0.5).map { abs($0) }
      inputs[node.attrs.string("name")] = ReferenceTensor(shape: node.type.shape, floats: floats)
    }
    var buffers = try ReferenceInterpreter.initialBuffers(for: graph, seed: 3)
    var result = try ReferenceInterpreter.run(program, inputs: inputs, buffers: &buffers)
    for (name, value) in buffers { result["buffer " + name] = value }
    return result
  }

  /// A limit the default plan meets keeps that plan; `recomputing: false` (`dinoc compile
  /// --no-recompute`) recomputes nothing and refuses a limit. (Before the default recomputed
  /// the cheap values, the default plan was the recompute-free one.)
  func testUnderALargeLimitTheDefaultPlanIsKeptAndNoRecomputeRecomputesNothing() throws {
    let graph = try Self.model()
    let plain = try Pipeline.run(graph)
    XCTAssertEqual(try Pipeline.run(graph, memoryLimit: Self.needs(plain)), plain)
    let none = try Pipeline.run(graph, recomputing: false)
    XCTAssertNil(none.metadata[recomputeMetadataKey])
    XCTAssertEqual(
      none.program("train_step")?.nodes.filter(\.isBackward).count,
      try Pipeline.run(graph, stopAfter: "flatten").program("train_step")?.nodes
        .filter(\.isBackward).count, "no node inserted")
    XCTAssertThrowsError(try Pipeline.run(graph, memoryLimit: 1 << 40, recomputing: false)) {
      XCTAssertTrue("\($0)".contains("--no-recompute"), "\($0)")
    }
    let stopped = try Pipeline.run(graph, stopAfter: "remat", memoryLimit: 1 << 40)
    XCTAssertEqual(stopped.stage, "remat")
  }

  /// The smallest size the per-tensor pipeline fits `graph` in: the one a 1000-byte
  /// `memoryLimit` is refused with.
  static func smallestSize(_ graph: Graph) throws -> Int {
    do {
      _ = try Pipeline.run(graph, skipping: ["flatten"], memoryLimit: 1000)
      XCTFail("a 1000-byte limit fits")
      return 0
    } catch {
      return try XCTUnwrap(
        error.message.split(separator: "(").dropFirst(2).first?.split(separator: " ").first
          .flatMap { Int($0) })
    }
  }

  /// The estimated recompute FLOPs and the step's, from the summary in `graph.metadata`.
  static func recomputeFlops(_ graph: Graph) throws -> (flops: Double, step: Double) {
    let summary = try XCTUnwrap(graph.metadata[recomputeMetadataKey])
    var fields: [String: Double] = [:]
    for pair in summary.split(separator: " ") {
      let parts = pair.split(separator: "=")
      fields[String(parts[0])] = Double(parts[1])
    }
    return (try XCTUnwrap(fields["flops"]), try XCTUnwrap(fields["step_flops"]))
  }

  /// At width 64 and 128 tokens the default plan recomputes the cheapest values within
  /// `defaultRecomputeBudget` of the step's FLOPs (a smaller arena, no GEMM), the unlimited
  /// greedy would spend more than that (the budget binds), and the step is exactly the
  /// recompute-free one's in the Double reference.
  func testDefaultRecomputesWithinTheBudgetAndTheStepIsExact() throws {
    let graph = try Self.model(batch: 4, tokens: 32, dim: 64, heads: 2)
    let none = try Pipeline.run(graph, skipping: ["flatten"], recomputing: false)
    let lean = try Pipeline.run(graph, skipping: ["flatten"])
    XCTAssertNil(none.metadata[recomputeMetadataKey], "--no-recompute recomputes nothing")
    let (flops, stepFlops) = try Self.recomputeFlops(lean)
    XCTAssertGreaterThan(flops, 0)
    XCTAssertLessThanOrEqual(flops, defaultRecomputeBudget * stepFlops)
    let noneStep = try XCTUnwrap(none.program("train_step"))
    let leanStep = try XCTUnwrap(lean.program("train_step"))
    XCTAssertLessThan(leanStep.arenaBytes!, noneStep.arenaBytes!)
    XCTAssertGreaterThan(leanStep.nodes.count, noneStep.nodes.count)
    func gemms(_ program: Program) -> Int { program.nodes.filter { $0.op.family == .gemm }.count }
    XCTAssertEqual(gemms(leanStep), gemms(noneStep), "no GEMM is recomputed")
    XCTAssertEqual(try Self.step(lean), try Self.step(none))
    let smallest = try Self.smallestSize(graph)
    let tight = try Pipeline.run(graph, skipping: ["flatten"], memoryLimit: smallest)
    XCTAssertGreaterThan(
      try Self.recomputeFlops(tight).flops, defaultRecomputeBudget * stepFlops,
      "the budget stops the default before the greedy runs out of candidates")
    // The flat optimiser's plan recomputes by default too, and passes the memory proof.
    let flat = try Pipeline.run(graph)
    XCTAssertNotNil(flat.metadata[recomputeMetadataKey])
  }

  func testLimitedPlanFitsAndComputesTheSameStep() throws {
    let graph = try Self.model()
    let plain = try Pipeline.run(graph)
    let plainStep = try XCTUnwrap(plain.program("train_step"))
    let limit = Self.needs(plain) - plainStep.arenaBytes! / 3
    let limited = try Pipeline.run(graph, memoryLimit: limit)
    let step = try XCTUnwrap(limited.program("train_step"))
    XCTAssertLessThanOrEqual(Self.needs(limited), limit)
    XCTAssertEqual(memoryProblems(step), [])
    XCTAssertGreaterThan(step.nodes.count, plainStep.nodes.count, "recomputing nodes inserted")
    let summary = try XCTUnwrap(limited.metadata[recomputeMetadataKey])
    XCTAssertTrue(summary.hasPrefix("values="), summary)
    XCTAssertNotNil(limited.metadata[recomputeValuesMetadataKey])
    // Every recomputing node is a copy of a forward computation: same locations.
    let locations = Set(plainStep.nodes.map(\.loc))
    XCTAssertTrue(step.nodes.allSatisfy { locations.contains($0.loc) })
    // Recomputing the same ops on the same values gives the same numbers, exactly (the
    // reference runs the per-tensor optimiser: it has no flat regions).
    let perTensor = try Pipeline.run(graph, skipping: ["flatten"])
    let perTensorLimit = Self.needs(perTensor) - perTensor.programs[0].arenaBytes! / 5
    let limitedPerTensor = try Pipeline.run(
      graph, skipping: ["flatten"], memoryLimit: perTensorLimit)
    XCTAssertNotNil(limitedPerTensor.metadata[recomputeMetadataKey])
    XCTAssertEqual(try Self.step(limitedPerTensor), try Self.step(perTensor))
  }

  /// The fuse pass turns each block's attention into `attention(qkv)` with two results (the
  /// output and each softmax row's log-sum-exp). With no softmax rows kept, the smallest
  /// plan of this model recomputes no attention (the peak lies where none is idle), so the
  /// recompute is asked for directly: every attention's output and log-sum-exp, from the
  /// pass's own candidates. Each clone is followed by its `result` node, both are read, and
  /// the step is the same, exactly.
  func testFusedAttentionIsRecomputedAndTheStepIsExact() throws {
    let graph = try Self.model()
    let plain = try Pipeline.run(graph, skipping: ["flatten"])
    let plainStep = try XCTUnwrap(plain.program("train_step"))
    func attentions(_ program: Program) -> [Int] {
      program.nodes.indices.filter { program.nodes[$0].op == .attention }
    }
    XCTAssertEqual(attentions(plainStep).count, 2, "both blocks' attentions fuse")
    var scheduled = try Pipeline.run(graph, stopAfter: "schedule")
    let p = try XCTUnwrap(scheduled.programs.firstIndex { $0.name == "train_step" })
    let analysis = RecomputeAnalysis(scheduled.programs[p])
    let wanted = attentions(analysis.program).flatMap { [$0, $0 + 1] }
    let candidates = Set(analysis.candidates.map(\.value))
    XCTAssertEqual(wanted.filter(candidates.contains), wanted, "outputs and lse are candidates")
    let rebuilt = analysis.rebuild(wanted)
    XCTAssertEqual(Set(rebuilt.recomputed), Set(wanted))
    scheduled.programs[p] = rebuilt.program
    try Verifier.verify(scheduled)
    let step = rebuilt.program
    let clones = attentions(step).filter { step.nodes[$0].isBackward }
    XCTAssertEqual(clones.count, 2, "each attention is recomputed once")
    for clone in clones {
      let next = step.nodes[clone + 1]
      XCTAssertEqual(next.op, .result)
      XCTAssertEqual(next.operands, [ValueID(clone)])
      // Each clone's output and log-sum-exp feed its attention_bwd.
      XCTAssertTrue(
        step.nodes.contains {
          $0.op == .attentionBwd && $0.operands[2] == ValueID(clone)
            && $0.operands[3] == ValueID(clone + 1)
        }, "clone %\(clone) is read")
    }
    // The fused node is bitwise a function of qkv: the recomputed step is the same.
    XCTAssertEqual(try Self.step(scheduled), try Self.step(plain))
  }

  func testCheapValuesGoBeforeGemms() throws {
    let graph = try Self.model()
    let plain = try Pipeline.run(graph)
    let plainStep = try XCTUnwrap(plain.program("train_step"))
    func gemms(_ program: Program) -> Int { program.nodes.filter { $0.op.family == .gemm }.count }
    // A small cut comes from views and element-wise values alone.
    let mild = try Pipeline.run(graph, memoryLimit: Self.needs(plain) - 64)
    let mildStep = try XCTUnwrap(mild.program("train_step"))
    XCTAssertGreaterThan(mildStep.nodes.count, plainStep.nodes.count)
    XCTAssertEqual(gemms(mildStep), gemms(plainStep))
  }

  func testImpossibleLimitIsRefusedInOneLineWithTheSmallestSize() throws {
    let graph = try Self.model()
    do {
      _ = try Pipeline.run(graph, memoryLimit: 1000)
      XCTFail("a 1000-byte limit fits")
    } catch {
      XCTAssertEqual(error.notes, [])
      XCTAssertFalse(error.description.contains("\n"))
      XCTAssertTrue(error.message.hasPrefix("--memory-limit 1000B (1000 bytes) is too small"))
      XCTAssertTrue(error.message.hasSuffix("raise --memory-limit"), error.message)
      let smallest = try XCTUnwrap(
        error.message.split(separator: "(").dropFirst(2).first?.split(separator: " ").first
          .flatMap { Int($0) })
      let fits = try Pipeline.run(graph, memoryLimit: smallest)
      XCTAssertLessThanOrEqual(Self.needs(fits), smallest)
      XCTAssertThrowsError(try Pipeline.run(graph, memoryLimit: smallest - 64))
    }
  }
}
