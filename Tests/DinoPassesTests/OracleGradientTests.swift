import DinoIR
import DinoPasses
import XCTest
import _DinoTestSupport

/// The gradient check every differentiable op gets from its oracle row: tiny cases drawn by
/// the row, the operands its `grad` column marks as trainable parameters, the others as
/// inputs, `Σ(y ⊙ R)` differentiated and compared with finite differences in the reference
/// interpreter (`check`: rel < 1e-6, cos > 0.999999). `AutodiffGradientTests` adds
/// hand-written cases (shared operands, broadcasting variants, transposes).
final class OracleGradientTests: XCTestCase {
  func testEveryDifferentiableOpHasAnOracleRow() {
    for op in OpKind.allOps where op.isDifferentiable {
      XCTAssertNotNil(op.oracleRow, "\(op): no oracle row, so no gradient check")
    }
  }

  func testEveryDifferentiableRowAgreesWithFiniteDifferences() throws {
    var rng = TestRNG(seed: 31_337)
    for row in oracleTable where row.op.isDifferentiable {
      for draw in 0..<3 {
        let c = row.gradientCase(&rng)
        let trainable = Set(c.shapes.indices.filter { row.op.isDifferentiable(operand: $0) })
        let one = try c.oneOpProgram(parameters: trainable)
        var builder = GradientCheckBuilder(seed: 2_000 + UInt64(draw))
        builder.program = Program(name: "train_step", nodes: one.program.nodes)
        builder.inputs = one.inputs
        builder.buffers = one.buffers
        let loss = try builder.weightedSum(ValueID(one.opIndex))
        try check("\(row.op) #\(draw) \(c.shapes) \(c.iattr) \(c.fattr)", builder, loss: loss)
      }
    }
  }
}
