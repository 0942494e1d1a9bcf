import DinoIR
import XCTest
import _DinoTestSupport

/// Runs `program` of `fused` and of `unfused` in the Double reference interpreter from the
/// same `inputs` and the same buffers (filled from each buffer's index and name), asserts
/// that both give the same outputs (to 1e-12 relative) and returns the fused run's.
@discardableResult
func assertFusedMatchesUnfused(
  _ fused: Graph, _ unfused: Graph, program: String, inputs: [String: ReferenceTensor],
  file: StaticString = #filePath, line: UInt = #line
) throws -> [String: ReferenceTensor] {
  var buffers: [String: ReferenceTensor] = [:]
  for buffer in fused.buffers() {
    buffers[buffer.name] = ReferenceTensor(shape: buffer.type.shape) {
      Double(($0 * 13 + buffer.name.count) % 17) / 8 - 0.9
    }
  }
  var copy = buffers
  let a = try ReferenceInterpreter.run(fused, program: program, inputs: inputs, buffers: &buffers)
  let b = try ReferenceInterpreter.run(unfused, program: program, inputs: inputs, buffers: &copy)
  XCTAssertEqual(Set(a.keys), Set(b.keys), program, file: file, line: line)
  for (name, value) in b {
    for (got, want) in zip(a[name]?.data ?? [], value.data) {
      XCTAssertEqual(
        got, want, accuracy: 1e-12 * max(1, abs(want)), "\(program) \(name)", file: file,
        line: line)
    }
  }
  return a
}
