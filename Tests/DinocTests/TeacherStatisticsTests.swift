import DinoIR
import Foundation
import XCTest
import _DinoTestSupport

/// `train_step`'s teacher statistics (`teacher_entropy`, `teacher_mean_entropy`,
/// `center_norm`), evaluated in Double on the official reference weights and crops, equal
/// the same quantities computed directly from the step's teacher logits and center; they
/// are outputs only (no gradient reaches them).
final class TeacherStatisticsTests: XCTestCase {
  private static let cases = ["step_epoch0", "step_epoch1", "step_epoch1_nll0"]

  /// Entropy −Σ p ln p of a distribution (0·ln 0 = 0).
  private func entropy(_ p: [Double]) -> Double {
    -p.reduce(0) { $0 + ($1 > 0 ? $1 * Foundation.log($1) : 0) }
  }

  func testStatisticsEqualADirectComputationFromTheTeacherLogits() throws {
    let sample = DinocRunner.packageRoot.appendingPathComponent("Samples/fashion_mnist.swift")
    for name in Self.cases {
      let initial = try ReferenceFiles.open("\(name).init")
      let crops = try ReferenceFiles.open("\(name).crops")
      let graph = try Graph(wire: DinocRunner.compileToWire(sample.path, initial.defineFlags()))
      let program = try XCTUnwrap(graph.program("train_step"))
      var feeds = try crops.referenceTensors()
      let tau = try XCTUnwrap(Double(initial.metadata["teacher_temp"] ?? ""))
      feeds["teacher_temp"] = ReferenceTensor(scalar: tau)
      feeds["seed"] = ReferenceTensor(scalar: 0)
      var buffers = try initial.referenceTensors()
      let center = try XCTUnwrap(buffers["center"])
      let values = try ReferenceInterpreter.values(program, inputs: feeds, buffers: &buffers)
      func output(_ key: String) throws -> Double {
        let id = try XCTUnwrap(program.outputs.first { $0.name == key }?.value, key)
        return try XCTUnwrap(values[id.index].scalar, key)
      }
      // The teacher logits: the operand the center is subtracted from.
      let centerID = try XCTUnwrap(program.nodes.firstIndex { $0.bufferName == "center" })
      let sub = try XCTUnwrap(
        program.nodes.first { $0.op == .sub && $0.operands[1].index == centerID })
      let logits = values[sub.operands[0].index]
      let (rows, k) = (logits.shape[0], logits.shape[1])
      var probabilities: [[Double]] = []
      for r in 0..<rows {
        let z = (0..<k).map { (logits.data[r * k + $0] - center.data[$0]) / tau }
        let top = z.max()!
        let e = z.map { Foundation.exp($0 - top) }
        let total = e.reduce(0, +)
        probabilities.append(e.map { $0 / total })
      }
      let rowEntropy = probabilities.map(entropy).reduce(0, +) / Double(rows)
      let meanP = (0..<k).map { j in probabilities.reduce(0) { $0 + $1[j] } / Double(rows) }
      let norm = center.data.reduce(0) { $0 + $1 * $1 }.squareRoot()

      XCTAssertEqual(try output("teacher_entropy"), rowEntropy, accuracy: 1e-9, name)
      XCTAssertEqual(try output("teacher_mean_entropy"), entropy(meanP), accuracy: 1e-9, name)
      XCTAssertEqual(try output("center_norm"), norm, accuracy: 1e-9 * max(norm, 1), name)
      XCTAssertLessThanOrEqual(rowEntropy, entropy(meanP) + 1e-12, name)  // concavity
      XCTAssertGreaterThan(rowEntropy, 0, name)
    }
  }

  /// The statistics depend on the teacher only: no node on their path is a backward node
  /// and autodiff's gradients are those of the loss alone (the parity tests check values).
  func testStatisticsAreOutputsAfterTheLossWithoutGradients() throws {
    let sample = DinocRunner.packageRoot.appendingPathComponent("Samples/fashion_mnist.swift")
    let initial = try ReferenceFiles.open("step_epoch0.init")
    let graph = try Graph(wire: DinocRunner.compileToWire(sample.path, initial.defineFlags()))
    let program = try XCTUnwrap(graph.program("train_step"))
    let loss = try XCTUnwrap(program.outputs.first { $0.name == "loss" }?.value.index)
    for key in ["teacher_entropy", "teacher_mean_entropy", "center_norm"] {
      let id = try XCTUnwrap(program.outputs.first { $0.name == key }?.value.index, key)
      XCTAssertGreaterThan(id, loss, key)
      XCTAssertEqual(program.nodes[id].type, .scalar, key)
      // Nothing student-side feeds the statistic.
      var stack = [id]
      var seen = Set<Int>()
      while let n = stack.popLast() {
        guard seen.insert(n).inserted else { continue }
        let node = program.nodes[n]
        XCTAssertFalse(node.bufferName?.hasPrefix("student.") ?? false, "\(key) reads \(node)")
        stack += node.operands.map(\.index)
      }
    }
  }
}
