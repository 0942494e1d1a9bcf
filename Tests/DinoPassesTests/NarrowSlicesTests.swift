import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// `narrowSlices`: a slice of a transformer block's output moves up to the block's input,
/// so the block computes only the kept tokens, with the same values.
final class NarrowSlicesTests: XCTestCase {
  /// One pre-norm transformer block (2 images, 3 tokens, width 4, 2 heads, MLP 8, a drop-path
  /// scale per image) whose result `out` is `slice(block) {axis, start, end}`; with
  /// `outputBlock`, the whole block is an output too.
  private func block(axis: Int = 1, start: Int, end: Int, outputBlock: Bool = false) -> String {
    let cut = [2, 3, 4].enumerated().map { $0.offset == axis ? end - start : $0.element }
    return """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[2,3,4]
        %1 = parameter {init="zeros", name="m.norm.g", trainable=1} : f32[4]
        %2 = parameter {init="zeros", name="m.norm.b", trainable=1} : f32[4]
        %3 = layer_norm(%0, %1, %2) {eps=1e-06} : f32[2,3,4]
        %4 = parameter {init="zeros", name="m.qkv.w", trainable=1} : f32[12,4]
        %5 = parameter {init="zeros", name="m.qkv.b", trainable=1} : f32[12]
        %6 = linear(%3, %4, %5) : f32[2,3,12]
        %7 = reshape(%6) {shape=[2,3,3,2,2]} : f32[2,3,3,2,2]
        %8 = permute(%7) {perm=[2,0,3,1,4]} : f32[3,2,2,3,2]
        %9 = slice(%8) {axis=0, end=1, start=0} : f32[1,2,2,3,2]
        %10 = reshape(%9) {shape=[2,2,3,2]} : f32[2,2,3,2]
        %11 = slice(%8) {axis=0, end=2, start=1} : f32[1,2,2,3,2]
        %12 = reshape(%11) {shape=[2,2,3,2]} : f32[2,2,3,2]
        %13 = slice(%8) {axis=0, end=3, start=2} : f32[1,2,2,3,2]
        %14 = reshape(%13) {shape=[2,2,3,2]} : f32[2,2,3,2]
        %15 = matmul(%10, %12) {trans_a=0, trans_b=1} : f32[2,2,3,3]
        %16 = scale(%15) {factor=0.7} : f32[2,2,3,3]
        %17 = softmax(%16) : f32[2,2,3,3]
        %18 = matmul(%17, %14) {trans_a=0, trans_b=0} : f32[2,2,3,2]
        %19 = permute(%18) {perm=[0,2,1,3]} : f32[2,3,2,2]
        %20 = reshape(%19) {shape=[2,3,4]} : f32[2,3,4]
        %21 = parameter {init="zeros", name="m.proj.w", trainable=1} : f32[4,4]
        %22 = parameter {init="zeros", name="m.proj.b", trainable=1} : f32[4]
        %23 = linear(%20, %21, %22) : f32[2,3,4]
        %24 = input {name="keep"} : f32[2,1,1]
        %25 = mul(%23, %24) : f32[2,3,4]
        %26 = add(%0, %25) : f32[2,3,4]
        %27 = layer_norm(%26, %1, %2) {eps=1e-06} : f32[2,3,4]
        %28 = parameter {init="zeros", name="m.fc1.w", trainable=1} : f32[8,4]
        %29 = parameter {init="zeros", name="m.fc1.b", trainable=1} : f32[8]
        %30 = linear(%27, %28, %29) : f32[2,3,8]
        %31 = gelu(%30) : f32[2,3,8]
        %32 = parameter {init="zeros", name="m.fc2.w", trainable=1} : f32[4,8]
        %33 = parameter {init="zeros", name="m.fc2.b", trainable=1} : f32[4]
        %34 = linear(%31, %32, %33) : f32[2,3,4]
        %35 = add(%26, %34) : f32[2,3,4]
        %36 = slice(%35) {axis=\(axis), end=\(end), start=\(start)} : f32\(cut)
        return out=%36\(outputBlock ? ", block=%35" : "")
      }
      """
  }

  /// Random values for the block's inputs and parameters (seeded).
  private func environment(_ program: Program) -> (
    inputs: [String: ReferenceTensor], buffers: [String: ReferenceTensor]
  ) {
    var state: UInt64 = 0x9E37_79B9_7F4A_7C15
    func tensor(_ shape: [Int]) -> ReferenceTensor {
      let data = (0..<shape.reduce(1, *)).map { _ -> Double in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Double(state >> 11) / Double(1 << 53) * 2 - 1
      }
      return ReferenceTensor(shape: shape, data: data)
    }
    var inputs: [String: ReferenceTensor] = [:]
    var buffers: [String: ReferenceTensor] = [:]
    for node in program.nodes {
      let name = node.attrs.string("name")
      if node.op == .input { inputs[name] = tensor(node.type.shape) }
      if node.op == .parameter { buffers[name] = tensor(node.type.shape) }
    }
    return (inputs, buffers)
  }

  /// Runs both programs on the same random values and compares every output.
  private func assertSameOutputs(
    _ before: Program, _ after: Program, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    var (inputs, buffers) = environment(before)
    var buffersAfter = buffers
    let expected = try ReferenceInterpreter.run(before, inputs: inputs, buffers: &buffers)
    let actual = try ReferenceInterpreter.run(after, inputs: inputs, buffers: &buffersAfter)
    XCTAssertEqual(Set(expected.keys), Set(actual.keys), file: file, line: line)
    for (name, value) in expected {
      let other = try XCTUnwrap(actual[name], file: file, line: line)
      XCTAssertTrue(
        value.approximatelyEqual(other, absoluteTolerance: 1e-12, relativeTolerance: 1e-12),
        "\(name): \(value) != \(other)", file: file, line: line)
    }
  }

  /// The result types of the nodes of op `op`, in order.
  private func types(_ program: Program, _ op: OpKind) -> [[Int]] {
    program.nodes.filter { $0.op == op }.map(\.type.shape)
  }

  func testClassTokenSliceNarrowsTheWholeBlockAfterQKV() throws {
    let graph = try parseIR(block(start: 0, end: 1))
    let narrowed = narrowSlices(graph)
    XCTAssertEqual(narrowed.stage, "narrow")
    try Verifier.verify(narrowed)
    let program = narrowed.programs[0]
    try assertSameOutputs(graph.programs[0], program)
    // qkv stays whole (keys and values of every token); everything after it has one token.
    XCTAssertEqual(types(program, .linear), [[2, 3, 12], [2, 1, 4], [2, 1, 8], [2, 1, 4]])
    XCTAssertEqual(types(program, .softmax), [[2, 2, 1, 3]])
    XCTAssertEqual(types(program, .matmul), [[2, 2, 1, 3], [2, 2, 1, 2]])
    XCTAssertEqual(types(program, .layerNorm), [[2, 3, 4], [2, 1, 4]])
    XCTAssertEqual(types(program, .gelu), [[2, 1, 8]])
    // The drop-path scale [2,1,1] is read whole (broadcast along the tokens).
    let mul = try XCTUnwrap(program.nodes.first { $0.op == .mul })
    XCTAssertEqual(mul.type.shape, [2, 1, 4])
    XCTAssertEqual(program[mul.operands[1]].op, .input)
  }

  func testAnyRangeOfTokensNarrows() throws {
    let graph = try parseIR(block(start: 1, end: 3))
    let narrowed = narrowSlices(graph)
    try Verifier.verify(narrowed)
    try assertSameOutputs(graph.programs[0], narrowed.programs[0])
    XCTAssertEqual(
      types(narrowed.programs[0], .linear), [[2, 3, 12], [2, 2, 4], [2, 2, 8], [2, 2, 4]])
  }

  func testImageSliceNarrowsEveryNodeOfTheImage() throws {
    let graph = try parseIR(block(axis: 0, start: 1, end: 2))
    let narrowed = narrowSlices(graph)
    try Verifier.verify(narrowed)
    try assertSameOutputs(graph.programs[0], narrowed.programs[0])
    // The batch axis moves through the attention's reshapes and permutes too.
    XCTAssertEqual(
      types(narrowed.programs[0], .linear), [[1, 3, 12], [1, 3, 4], [1, 3, 8], [1, 3, 4]])
  }

  func testFeatureSliceStopsAtTheLinear() throws {
    let graph = try parseIR(block(axis: 2, start: 0, end: 2))
    let narrowed = narrowSlices(graph)
    try Verifier.verify(narrowed)
    try assertSameOutputs(graph.programs[0], narrowed.programs[0])
    // The residual add narrows; fc2's output features are what it computes: it stays whole.
    XCTAssertEqual(
      types(narrowed.programs[0], .linear), [[2, 3, 12], [2, 3, 4], [2, 3, 8], [2, 3, 4]])
    XCTAssertEqual(types(narrowed.programs[0], .add).last, [2, 3, 2])
  }

  func testNestedCutsOfAValueReadElsewhereSettle() throws {
    // The two cuts of %2 commute; x has other readers, so each round could otherwise swap
    // them back and forth.
    let graph = try parseIR(
      """
      #dino-ir v1 stage=t
      program @p {
        %0 = input {name="x"} : f32[4,4]
        %1 = gelu(%0) : f32[4,4]
        %2 = slice(%1) {axis=0, end=2, start=0} : f32[2,4]
        %3 = slice(%2) {axis=1, end=3, start=1} : f32[2,2]
        %4 = slice(%1) {axis=1, end=2, start=0} : f32[4,2]
        %5 = slice(%4) {axis=0, end=4, start=1} : f32[3,2]
        return a=%3, b=%5, c=%1
      }
      """)
    let narrowed = narrowSlices(graph)
    try Verifier.verify(narrowed)
    try assertSameOutputs(graph.programs[0], narrowed.programs[0])
  }

  func testAValueAnOutputNamesStaysWhole() throws {
    let graph = try parseIR(block(start: 0, end: 1, outputBlock: true))
    let narrowed = narrowSlices(graph)
    var expected = graph
    expected.stage = "narrow"
    XCTAssertEqual(narrowed, expected)
  }

  func testThePipelineNarrowsBeforeAutodiff() throws {
    let graph = try parseIR(block(start: 0, end: 1))
    let staged = try Pipeline.run(graph, stopAfter: "narrow")
    XCTAssertEqual(staged.stage, "narrow")
    XCTAssertEqual(types(staged.programs[0], .gelu), [[2, 1, 8]])
  }
}
