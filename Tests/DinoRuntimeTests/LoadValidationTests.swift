import DinoIR
import XCTest
import _DinoTestSupport

@testable import DinoRuntime

/// The C executor trusts its instructions, so every bad instruction it once refused per
/// step must be refused when the plan is loaded (`Runtime.init`): shapes, element types,
/// attribute ranges, operand indices, shared buffers and the kernels' int extents.
final class LoadValidationTests: XCTestCase {
  /// A planned graph with inputs x0…xn of `shapes` (i32 where `i32`), one `op` node
  /// declared as `out` and output "y".
  private func graph(
    _ op: OpKind, _ shapes: [[Int]], out: [Int], attrs: Attributes = [:], i32: Set<Int> = []
  ) -> Graph {
    var nodes = shapes.enumerated().map { i, shape in
      Node(
        .input, attrs: ["name": .string("x\(i)")],
        type: TensorType(i32.contains(i) ? .i32 : .f32, shape))
    }
    let operands = shapes.indices.map { ValueID($0) }
    nodes.append(Node(op, operands, attrs: attrs, type: TensorType(.f32, out)))
    let y = ValueID(nodes.count - 1)
    let program = Program(name: "p", nodes: nodes, outputs: [ProgramOutput(name: "y", value: y)])
    return planEachValueApart(Graph(programs: [program]))
  }

  private func assertRefused(
    _ graph: Graph, _ message: String, file: StaticString = #filePath, line: UInt = #line
  ) {
    XCTAssertThrowsError(try Runtime(graph: graph), file: file, line: line) { error in
      let text = "\(error)"
      XCTAssert(text.contains(message), "\(text) lacks \(message)", file: file, line: line)
      XCTAssertFalse(text.contains("\n"), "one line: \(text)", file: file, line: line)
    }
  }

  func testBadInstructionsAreRefusedAtLoad() {
    let flags: Attributes = ["trans_a": .int(0), "trans_b": .int(0)]
    assertRefused(
      graph(.matmul, [[4, 3], [5, 6]], out: [4, 6], attrs: flags),
      "matmul: [4,3] x [5,6] — inner dimensions differ")
    assertRefused(
      graph(.add, [[4, 3], [4]], out: [4, 3]), "add: [4] does not broadcast to [4,3]")
    assertRefused(
      graph(.gelu, [[4, 3]], out: [4, 4]),
      "gelu: stored type f32[4,4] differs from inferred f32[4,3]")
    assertRefused(
      graph(.layerNorm, [[2, 8], [8], [7]], out: [2, 8], attrs: ["eps": .float(1e-6)]),
      "layer_norm: beta must be [8], got [7]")
    assertRefused(
      graph(.permute, [[2, 3]], out: [3, 2], attrs: ["perm": .ints([1, 1])]),
      "permute: [1, 1] is not a permutation of rank 2")
    assertRefused(
      graph(.reshape, [[2, 3]], out: [5], attrs: ["shape": .ints([5])]),
      "reshape: cannot reshape [2,3] to [5]")
    let adam: Attributes = [
      "beta1": .float(0.9), "beta2": .float(0.999), "eps": .float(1e-8), "decay": .int(0),
    ]
    assertRefused(
      graph(.adamwUpdate, [[2], [2], [2], [3], [], [], [], []], out: [], attrs: adam),
      "adamw_update: operand 3 [3] differs from [2]")
    let mask: Attributes = ["rate": .float(0.1), "stream": .int(0), "batch": .int(4)]
    assertRefused(
      graph(.dropPathMask, [[]], out: [4], attrs: mask),
      "drop_path_mask: operand 0 must be i32, got f32[]")
    let slice: Attributes = ["axis": .int(1), "start": .int(4), "end": .int(6)]
    assertRefused(
      graph(.slice, [[4, 5]], out: [4, 2], attrs: slice),
      "slice: [4, 6) out of range for axis 1 of [4,5]")
  }

  func testOperandIndicesSharedBuffersAndIntExtentsAreRefusedAtLoad() {
    var outOfRange = graph(.gelu, [[2, 3]], out: [2, 3])
    outOfRange.programs[0].nodes[1].operands = [ValueID(9)]
    assertRefused(outOfRange, "gelu: operand %9 is not defined before %1")

    // gelu may not run in place: a second gelu writing the first one's slot is refused by
    // the memory proof, which runs once at the end of compilation and once when a plan file
    // is read (PlanCorruptionTests), not again in Runtime.init.
    var shared = graph(.gelu, [[4, 3]], out: [4, 3])
    shared.programs[0].nodes.append(Node(.gelu, [ValueID(1)], type: TensorType(.f32, [4, 3])))
    shared.programs[0].outputs = [ProgramOutput(name: "y", value: ValueID(2))]
    shared = planEachValueApart(shared)
    shared.programs[0].nodes[2].slot = shared.programs[0].nodes[1].slot
    XCTAssertEqual(memoryProblems(shared.programs[0]).count, 1)
    XCTAssert(
      memoryProblems(shared.programs[0]).first?.contains("overlaps %1") ?? false,
      "\(memoryProblems(shared.programs[0]))")

    // 16 GiB: Runtime.init refuses it by MemAvailable first on most machines, so the
    // kernel-limit check that follows is called directly.
    let huge = graph(.gelu, [[1 << 16, 1 << 16]], out: [1 << 16, 1 << 16])
    XCTAssertThrowsError(try Runtime(graph: huge))
    XCTAssertThrowsError(try Runtime.checkKernelLimits(huge.programs[0])) { error in
      XCTAssertEqual(
        "\(error)",
        "@p: %0 input: f32[65536,65536] has 4294967296 elements, the kernels' limit is 2^31 - 1")
    }
    XCTAssertNoThrow(try Runtime.checkKernelLimits(graph(.gelu, [[4]], out: [4]).programs[0]))
  }

  func testScratchIsReservedAtLoadSoPatchEmbedRuns() throws {
    let g = graph(
      .patchEmbed, [[1, 3, 8, 8], [4, 3, 4, 4], [4]], out: [1, 4, 4],
      attrs: ["patch": .int(4)])
    let runtime = try Runtime(graph: g)
    for i in 0..<3 {
      let shape = g.programs[0].nodes[i].type.shape
      try runtime.setInput("x\(i)", randomFloats(shape.reduce(1, *), seed: UInt64(i + 1)))
    }
    try runtime.run("p")
    XCTAssertFalse(try runtime.output("y").contains { $0.isNaN })
  }
}
