import DinoIR
@testable import DinoPasses
import XCTest

/// The autodiff holds every VJP rule to its op's `bw_needs` column of IR/ops.def.
final class BackwardNeedsTests: XCTestCase {
  private let f2 = TensorType(.f32, [2])

  /// Forward %0, %1 inputs and %2 = op(%0, %1); the rule "emitted" reads `reads`.
  private func check(_ op: OpKind, reads: [Int]) throws {
    let node = Node(op, [ValueID(0), ValueID(1)], type: f2)
    let emitted = reads.map { Node(.gelu, [ValueID($0)], type: f2, isBackward: true) }
    try checkBackwardReads(of: node, at: 2, emitted: emitted[...], forwardCount: 3)
  }

  func testRulesMayReadWhatBwNeedsNames() throws {
    XCTAssertEqual(OpKind.mul.backwardReadsOperands, [0, 1])
    XCTAssertEqual(OpKind.softmax.backwardReadsResult, true)
    XCTAssertEqual(OpKind.add.backwardReadsOperands, [])
    try check(.mul, reads: [0, 1, 3])  // %3 is a backward value: always allowed
    try check(.add, reads: [3])
  }

  func testARuleReadingAnUnnamedForwardValueIsRefused() {
    XCTAssertThrowsError(try check(.add, reads: [0])) { error in
      XCTAssert("\(error)".contains("the add rule reads %0, which bw_needs \"dy\""), "\(error)")
    }
    XCTAssertThrowsError(try check(.mul, reads: [2]), "mul's VJP may not read its result")
  }
}
