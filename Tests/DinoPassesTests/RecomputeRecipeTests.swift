import DinoIR
@testable import DinoPasses
import XCTest

/// The recipes of `RecomputeAnalysis` for the values of ops with several results: the fused
/// `attention` (output and the rows' log-sum-exp) and `layer_norm_train`'s statistics re-run their
/// producer, followed by its `result` node, with the cost counted once, and one such run
/// serves both values of an attention.
final class RecomputeRecipeTests: XCTestCase {
  /// `train_step` of `RematerializeTests.model()` as `remat` sees it (fused, scheduled,
  /// flattened), with its analysis.
  private func analysis() throws -> RecomputeAnalysis {
    let graph = try Pipeline.run(RematerializeTests.model(), stopAfter: "flatten")
    return RecomputeAnalysis(try XCTUnwrap(graph.program("train_step")))
  }

  /// The first node with op `op` that the forward computes.
  private func first(_ op: OpKind, in program: Program) throws -> Int {
    try XCTUnwrap(program.nodes.indices.first { program.nodes[$0].op == op })
  }

  func testAttentionValuesReRunTheNodeAndCountItsFlopsOnce() throws {
    let analysis = try analysis()
    let program = analysis.program
    let attention = try first(.attention, in: program)
    let lse = attention + 1
    XCTAssertEqual(program.nodes[lse].op, .result)
    for value in [attention, lse] {
      let steps = try XCTUnwrap(analysis.recomputingSteps(value))
      XCTAssertEqual(steps.map(\.value), [attention, lse])
      XCTAssertEqual(steps.map(\.node.op), [.attention, .result])
      XCTAssertEqual(steps[1].node.operands, [ValueID(attention)])
      XCTAssertTrue(steps.allSatisfy { $0.node.isBackward && $0.node.slot == nil })
    }
    let candidate = try XCTUnwrap(analysis.candidates.first { $0.value == lse })
    let recipe = try XCTUnwrap(analysis.recipe(lse, at: candidate.point))
    XCTAssertEqual(recipe.steps.suffix(2).map(\.value), [attention, lse])
    // 4·B·H·N²·d with B 3, H 2, N 7, d 6 (the model's shapes): the attention once, plus
    // whatever the recipe rebuilds below it (nothing when qkv is still live).
    let attentionFlops = 4.0 * 3 * 2 * 7 * 7 * 6
    XCTAssertEqual(analysis.recomputeFlops(attention, as: program.nodes[attention]), attentionFlops)
    XCTAssertEqual(analysis.recomputeFlops(lse, as: program.nodes[lse]), 0)
    XCTAssertGreaterThanOrEqual(recipe.flops, attentionFlops)
  }

  /// The rows' log-sum-exp, read by `attention_bwd`, and the output, which the projection's
  /// weight gradient reads a few nodes later through a reshape (a view of the output's slot)
  /// and `attention_bwd` too: one recomputed attention serves both.
  func testOutputAndLogSumExpShareOneRecomputedAttention() throws {
    let analysis = try analysis()
    let program = analysis.program
    let attention = try first(.attention, in: program)
    let lse = attention + 1
    let view = try XCTUnwrap(analysis.uses[attention].first { program.nodes[$0].op == .reshape })
    let values = [lse, attention]
    let points = values.compactMap { v in analysis.candidates.first { $0.value == v }?.point }
    XCTAssertEqual(points.count, 2, "both are candidates")
    guard points.count == 2 else { return }
    XCTAssertEqual(points[1], view, "the output is recomputed for its view")
    XCTAssertLessThanOrEqual(abs(points[0] - points[1]), RecomputeAnalysis.sharingWindow)
    let rebuilt = analysis.rebuild(values)
    XCTAssertEqual(Set(rebuilt.recomputed), Set(values))
    let step = rebuilt.program
    let clones = step.nodes.indices.filter {
      step.nodes[$0].op == .attention && step.nodes[$0].isBackward
    }
    XCTAssertEqual(clones.count, 1, "one attention run serves both values")
    XCTAssertEqual(rebuilt.insertedNodes, 2, "attention and its result")
    XCTAssertEqual(rebuilt.flops, 4.0 * 3 * 2 * 7 * 7 * 6)
    try Verifier.verify(Graph(programs: [step]))
    let clone = try XCTUnwrap(clones.first)
    XCTAssertTrue(
      step.nodes.contains {
        $0.op == .attentionBwd && $0.operands[2].index == clone
          && $0.operands[3].index == clone + 1
      })
    XCTAssertTrue(step.nodes.contains { $0.op == .reshape && $0.operands == [ValueID(clone)] })
  }

  /// The backward may read a GELU's pre-activation (`matmul_gelu_bwd`) a few nodes before
  /// the weight gradient reads the GELU's output: a recompute point up to
  /// `keepAliveWindow` positions after the pre-activation's last read keeps it live and
  /// re-runs the element-wise GELU; further away the recipe must rebuild it by its GEMM.
  func testGeluOutputKeepsItsPreActivationAFewNodesLonger() throws {
    let analysis = try analysis()
    let program = analysis.program
    let gelu = try first(.linearGelu, in: program)
    let preActivation = gelu + 1
    XCTAssertEqual(program.nodes[preActivation].op, .result)
    let lastRead = try XCTUnwrap(analysis.uses[preActivation].last)
    let window = RecomputeAnalysis.keepAliveWindow
    XCTAssertLessThan(lastRead + window + 1, program.nodes.count)
    for point in [lastRead + 1, lastRead + window] {
      let recipe = try XCTUnwrap(analysis.recipe(gelu, at: point))
      XCTAssertEqual(recipe.steps.map(\.node.op), [.gelu], "at \(point)")
      XCTAssertEqual(recipe.kept, [preActivation])
      XCTAssertEqual(recipe.flops, 8 * Double(program.nodes[gelu].type.count))
    }
    let far = analysis.recipe(gelu, at: lastRead + window + 1)
    XCTAssertNotEqual(far?.steps.map(\.node.op), [.gelu], "past the window h is not kept")
    XCTAssertFalse(far?.kept.contains(preActivation) ?? false)
  }

  func testLayerNormStatisticsReRunLayerNormTrain() throws {
    let analysis = try analysis()
    let program = analysis.program
    let norm = try first(.layerNormTrain, in: program)
    XCTAssertEqual(analysis.recomputingSteps(norm).map { $0.map(\.node.op) }, [.layerNorm])
    let steps = try XCTUnwrap(analysis.recomputingSteps(norm + 1))
    XCTAssertEqual(steps.map(\.value), [norm, norm + 1])
    XCTAssertEqual(steps.map(\.node.op), [.layerNormTrain, .result])
  }
}
