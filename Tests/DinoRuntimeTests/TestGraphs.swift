import DinoIR
import XCTest

/// Builds small programs node by node, inferring each result type from the op table.
struct ProgramSketch {
  var program: Program

  init(_ name: String) { program = Program(name: name) }

  mutating func input(_ name: String, _ shape: [Int], _ dtype: DType = .f32) -> ValueID {
    program.append(Node(.input, attrs: ["name": .string(name)], type: TensorType(dtype, shape)))
  }

  mutating func parameter(_ name: String, _ shape: [Int], init spec: String, trainable: Bool = true)
    -> ValueID
  {
    program.append(
      Node(
        .parameter,
        attrs: [
          "name": .string(name), "init": .string(spec), "trainable": .int(trainable ? 1 : 0),
        ],
        type: TensorType(.f32, shape)))
  }

  mutating func constant(_ data: [Float], _ shape: [Int]) -> ValueID {
    program.append(Node(.constant, attrs: ["data": .floats(data)], type: TensorType(.f32, shape)))
  }

  mutating func op(_ op: OpKind, _ operands: ValueID..., attrs: Attributes = [:]) -> ValueID {
    let types = operands.map { program.nodes[$0.index].type }
    let type: TensorType
    do {
      type = try op.resultType(types, attrs, declared: nil)
    } catch {
      fatalError("sketch: \(op.name): \(error)")
    }
    return program.append(Node(op, operands, attrs: attrs, type: type))
  }

  mutating func output(_ name: String, _ value: ValueID) {
    program.outputs.append(ProgramOutput(name: name, value: value))
  }
}

/// The simplest correct memory plan: every computed value gets its own 64-byte aligned
/// slot, so nothing overlaps (inputs, constants, parameters and effect results get none).
func planEachValueApart(_ graph: Graph) -> Graph {
  var graph = graph
  for p in graph.programs.indices {
    var offset = 0
    for i in graph.programs[p].nodes.indices {
      let node = graph.programs[p].nodes[i]
      if node.op.isLeaf || node.op.isEffect { continue }
      let size = (node.type.byteSize + 63) / 64 * 64
      graph.programs[p].nodes[i].slot = MemorySlot(offset: offset, size: max(size, 64))
      offset += max(size, 64)
    }
    graph.programs[p].arenaBytes = offset
  }
  graph.stage = "planned"
  return graph
}

/// Deterministic pseudo-random floats in [-scale, scale].
func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
  var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
  return (0..<count).map { _ in
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return (Float(state >> 40) * 0x1p-24 * 2 - 1) * scale
  }
}

/// Asserts element-wise `|a − b| ≤ atol + rtol·|b|`.
func assertClose(
  _ a: [Float], _ b: [Double], atol: Double = 1e-5, rtol: Double = 1e-4, _ what: String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(a.count, b.count, "\(what): counts differ", file: file, line: line)
  for (i, (x, y)) in zip(a, b).enumerated() where abs(Double(x) - y) > atol + rtol * abs(y) {
    XCTFail("\(what)[\(i)]: \(x) vs reference \(y)", file: file, line: line)
    return
  }
}
