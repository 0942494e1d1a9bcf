import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// The fused attention (`attention`, `attention_bwd`) against the unfused graph it replaces,
/// forward and backward, on odd shapes: tokens not a multiple of 8, 1 and 3 heads, head
/// widths not a multiple of 16; optimised kernels at 1 and 2 threads and the Double
/// reference interpreter. The fused kernels sum in their own order (and the backward
/// recomputes the softmax rows from their log-sum-exp), so they agree with the unfused
/// kernels within rounding: an absolute tolerance relative to each tensor's largest
/// element, as large gradients with cancelling terms lose digits in both (measured on the
/// N = 129 case: both are 4–6·10⁻⁴ from the Double reference on gradients of up to 135).
final class FusedAttentionTests: XCTestCase {
  /// (images, tokens, heads, head width); the last two pass the kernels' serial threshold,
  /// the last one also OpenBLAS's small-matrix bound (tokens² · width > 10⁶: packed GEMMs).
  static let shapes = [(2, 7, 1, 5), (3, 13, 3, 11), (1, 1, 3, 3), (4, 37, 3, 21), (2, 129, 3, 67)]

  /// A `gradients` program: qkv = linear(x), the attention exactly as DinoDSL's `Attention`
  /// records it, then loss = Σ attn · target; outputs the attention, every gradient and,
  /// when asked, the softmax weights (`probs`) or the raw scores (`scores`). With `queries`
  /// Q, q is cut to tokens `queryStart ..< queryStart + Q` (a `slice` on the packed heads'
  /// token axis, as the `narrow` pass leaves a ViT's last block: start 0), and with
  /// `cutKeys` k and v too; the attention is then `[B, Q, C]`.
  static func graph(
    batch b: Int, tokens n: Int, heads h: Int, headDim hd: Int, alsoOutput: String? = nil,
    queries: Int? = nil, queryStart: Int = 0, cutKeys: Bool = false
  ) throws -> Graph {
    let c = h * hd
    let rows = queries ?? n
    var p = ProgramBuilder(name: "gradients")
    let x = p.input("x", [b, n, c])
    let target = p.input("target", [b, rows, c])
    let w = p.parameter("student.qkv.weight", [3 * c, c], init: "normal(0.3)")
    let bias = p.parameter("student.qkv.bias", [3 * c], init: "normal(0.1)")
    let qkv = try p.op(.linear, x, w, bias)
    let split = try p.op(
      .permute, try p.op(.reshape, qkv, attrs: ["shape": .ints([b, n, 3, h, hd])]),
      attrs: ["perm": .ints([2, 0, 3, 1, 4])])
    func part(_ i: Int, of packed: ValueID, tokens: Int) throws -> ValueID {
      let s = try p.op(
        .slice, packed, attrs: ["axis": .int(0), "start": .int(i), "end": .int(i + 1)])
      return try p.op(.reshape, s, attrs: ["shape": .ints([b, h, tokens, hd])])
    }
    var cut = split
    if queries != nil {
      cut = try p.op(
        .slice, split,
        attrs: ["axis": .int(3), "start": .int(queryStart), "end": .int(queryStart + rows)])
    }
    let q = try part(0, of: cut, tokens: rows)
    let k = try part(1, of: cutKeys ? cut : split, tokens: cutKeys ? rows : n)
    let v = try part(2, of: cutKeys ? cut : split, tokens: cutKeys ? rows : n)
    let scores = try p.op(.matmul, q, k, attrs: ["trans_a": .int(0), "trans_b": .int(1)])
    let scaled = try p.op(.scale, scores, attrs: ["factor": .float(1 / Double(hd).squareRoot())])
    let weights = try p.op(.softmax, scaled)
    let mixed = try p.op(.matmul, weights, v, attrs: ["trans_a": .int(0), "trans_b": .int(0)])
    let merged = try p.op(
      .reshape, try p.op(.permute, mixed, attrs: ["perm": .ints([0, 2, 1, 3])]),
      attrs: ["shape": .ints([b, rows, c])])
    p.output("attn", merged)
    if alsoOutput == "probs" { p.output("probs", weights) }
    if alsoOutput == "scores" { p.output("scores", scores) }
    p.output("loss", try p.sumAll(try p.op(.mul, merged, target)))
    var program = p.program
    for i in program.nodes.indices {
      program.nodes[i].loc = SourceLoc(file: "attn.swift", line: 10 + i, column: 3)
    }
    return Graph(programs: [program])
  }

  /// Outputs of `graph`'s `gradients` after one run (parameters from seed 5).
  static func run(_ graph: Graph, threads: Int, x: [Float], target: [Float]) throws
    -> [String: [Float]]
  {
    let runtime = try Runtime(graph: graph, threads: threads)
    try runtime.initializeParameters(seed: 5)
    try runtime.setInput("x", x, program: "gradients")
    try runtime.setInput("target", target, program: "gradients")
    try runtime.run("gradients")
    var outputs: [String: [Float]] = [:]
    for output in graph.program("gradients")!.outputs {
      outputs[output.name] = try runtime.output(output.name, program: "gradients")
    }
    return outputs
  }

  func testTheAttentionAndItsBackwardFuse() throws {
    let fused = try Pipeline.run(try Self.graph(batch: 2, tokens: 7, heads: 3, headDim: 5))
    let program = try XCTUnwrap(fused.program("gradients"))
    let ops = program.nodes.map(\.op)
    XCTAssertEqual(ops.filter { $0 == .attention }.count, 1)
    XCTAssertEqual(ops.filter { $0 == .attentionBwd }.count, 1)
    for gone in [OpKind.softmax, .softmaxBwd, .permute, .slice, .pad, .scale] {
      XCTAssertFalse(ops.contains(gone), "\(gone) is left")
    }
    XCTAssertFalse(ops.contains(.matmul) && ops.filter { $0 == .matmul }.count > 1)
    let forward = try XCTUnwrap(program.nodes.firstIndex { $0.op == .attention })
    XCTAssertEqual(program.nodes[forward + 1].op, .result, "the rows' log-sum-exp")
    XCTAssertEqual(program.nodes[forward].type.shape, [2, 7, 15])
    XCTAssertEqual(program.nodes[forward + 1].type.shape, [2, 3, 7])
    // The forward absorbed the split (line 14) to the merge; the locations stay listed.
    XCTAssertEqual(program.nodes[forward].loc.line, 15)
    XCTAssertGreaterThanOrEqual(program.nodes[forward].absorbed.count, 10)
    let backward = try XCTUnwrap(program.nodes.first { $0.op == .attentionBwd })
    XCTAssertTrue(backward.isBackward)
    XCTAssertEqual(backward.operands[2].index, forward, "the output")
    XCTAssertEqual(backward.operands[3].index, forward + 1, "the log-sum-exp")
    let unfused = try Pipeline.run(
      try Self.graph(batch: 2, tokens: 7, heads: 3, headDim: 5), fusing: false)
    XCTAssertFalse(unfused.programs[0].nodes.contains { $0.op == .attention })
  }

  func testFusedMatchesUnfusedWithOneAndTwoThreads() throws {
    for (b, n, h, hd) in Self.shapes {
      let graph = try Self.graph(batch: b, tokens: n, heads: h, headDim: hd)
      let fused = try Pipeline.run(graph), unfused = try Pipeline.run(graph, fusing: false)
      XCTAssertTrue(fused.programs[0].nodes.contains { $0.op == .attentionBwd })
      let x = randomFloats(b * n * h * hd, seed: 31, scale: 1.5)
      let target = randomFloats(b * n * h * hd, seed: 32, scale: 1)
      try Self.assertFusedMatchesUnfused(
        fused, unfused, x: x, target: target, label: "B=\(b) N=\(n) heads=\(h) hd=\(hd)")
    }
  }

  /// Runs `fused` and `unfused` on the same `x` and `target` at 1 and 2 threads: every
  /// output within tolerance of the unfused one, two fused runs at one thread count bitwise
  /// the same, and the fused outputs bitwise the same at 1 and 2 threads.
  static func assertFusedMatchesUnfused(
    _ fused: Graph, _ unfused: Graph, x: [Float], target: [Float], label: String,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    var oneThread: [String: [Float]] = [:]
    for threads in [1, 2] {
      let got = try run(fused, threads: threads, x: x, target: target)
      let want = try run(unfused, threads: threads, x: x, target: target)
      XCTAssertEqual(Set(got.keys), Set(want.keys), file: file, line: line)
      for (name, values) in want {
        let largest = Double(values.map(abs).max() ?? 0)
        assertClose(
          got[name]!, values.map(Double.init), atol: 1e-5 * max(1, largest), rtol: 1e-4,
          "\(label) \(name) \(threads)t")
      }
      let again = try run(fused, threads: threads, x: x, target: target)
      for (name, values) in got {
        XCTAssertEqual(
          values.map(\.bitPattern), again[name]!.map(\.bitPattern),
          "\(label) \(name): two \(threads)-thread runs differ", file: file, line: line)
      }
      if threads == 1 {
        oneThread = got
      } else {
        for (name, values) in got {
          XCTAssertEqual(
            values.map(\.bitPattern), oneThread[name]!.map(\.bitPattern),
            "\(label) \(name): 1 and 2 threads differ", file: file, line: line)
        }
      }
    }
  }

  func testFusedMatchesUnfusedInTheReferenceInterpreter() throws {
    for (b, n, h, hd) in Self.shapes.prefix(3) {
      let graph = try Self.graph(batch: b, tokens: n, heads: h, headDim: hd)
      let fused = try Pipeline.run(graph), unfused = try Pipeline.run(graph, fusing: false)
      let c = h * hd
      let inputs = [
        "x": ReferenceTensor(shape: [b, n, c]) { Double(($0 * 37) % 23) / 11 - 1 },
        "target": ReferenceTensor(shape: [b, n, c]) { Double(($0 * 13) % 19) / 9 - 1 },
      ]
      var buffers: [String: ReferenceTensor] = [:]
      for buffer in fused.buffers() {
        buffers[buffer.name] = ReferenceTensor(shape: buffer.type.shape) {
          Double(($0 * 7 + buffer.name.count) % 17) / 16 - 0.5
        }
      }
      var copy = buffers
      let got = try ReferenceInterpreter.run(
        fused, program: "gradients", inputs: inputs, buffers: &buffers)
      let want = try ReferenceInterpreter.run(
        unfused, program: "gradients", inputs: inputs, buffers: &copy)
      XCTAssertEqual(Set(got.keys), Set(want.keys))
      for (name, value) in want {
        for (g, w) in zip(got[name]!.data, value.data) {
          XCTAssertEqual(g, w, accuracy: 1e-12 * max(1, abs(w)), "B=\(b) N=\(n) h=\(h) \(name)")
        }
      }
    }
  }

  /// The fused nodes keep each row's log-sum-exp, not the softmax rows: an attention whose
  /// weights are read outside it (here a program output) stays unfused and computes what
  /// the unfused graph computes; so does one whose raw scores are read.
  func testOtherReadersOfTheSoftmaxOrScoresPreventFusion() throws {
    let withProbs = try Pipeline.run(
      try Self.graph(batch: 2, tokens: 9, heads: 3, headDim: 7, alsoOutput: "probs"))
    let program = withProbs.programs[0]
    let probs = try XCTUnwrap(program.outputs.first { $0.name == "probs" })
    XCTAssertEqual(program[probs.value].op, .softmax, "the softmax rows stay a softmax")
    XCTAssertFalse(program.nodes.contains { $0.op == .attention || $0.op == .attentionBwd })
    let x = randomFloats(2 * 9 * 21, seed: 41), target = randomFloats(2 * 9 * 21, seed: 42)
    let unfused = try Pipeline.run(
      try Self.graph(batch: 2, tokens: 9, heads: 3, headDim: 7, alsoOutput: "probs"),
      fusing: false)
    let got = try Self.run(withProbs, threads: 2, x: x, target: target)
    let want = try Self.run(unfused, threads: 2, x: x, target: target)
    assertClose(got["probs"]!, want["probs"]!.map(Double.init), atol: 1e-6, rtol: 1e-5, "probs")
    // A reader of the raw scores outside the attention: nothing fuses.
    let withScores = try Pipeline.run(
      try Self.graph(batch: 2, tokens: 9, heads: 3, headDim: 7, alsoOutput: "scores"))
    XCTAssertFalse(withScores.programs[0].nodes.contains { $0.op == .attention })
    XCTAssertTrue(withScores.programs[0].nodes.contains { $0.op == .softmaxBwd })
  }
}
