import DinoIR
import DinoRandom
import XCTest

/// The simplest correct memory plan: every computed value gets its own 64-byte aligned
/// slot, so nothing overlaps (inputs, constants, parameters and effect results get none).
public func planEachValueApart(_ graph: Graph) -> Graph {
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
public func randomFloats(_ count: Int, seed: UInt64, scale: Float = 1) -> [Float] {
  var state = seed &* CounterRandom.gamma | 1
  return (0..<count).map { _ in
    state ^= state << 13
    state ^= state >> 7
    state ^= state << 17
    return (Float(state >> 40) * 0x1p-24 * 2 - 1) * scale
  }
}

/// Asserts element-wise `|a − b| ≤ atol + rtol·|b|`.
public func assertClose(
  _ a: [Float], _ b: [Double], atol: Double = 1e-5, rtol: Double = 1e-4, _ what: String = "",
  file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(a.count, b.count, "\(what): counts differ", file: file, line: line)
  for (i, (x, y)) in zip(a, b).enumerated() where abs(Double(x) - y) > atol + rtol * abs(y) {
    XCTFail("\(what)[\(i)]: \(x) vs reference \(y)", file: file, line: line)
    return
  }
}
