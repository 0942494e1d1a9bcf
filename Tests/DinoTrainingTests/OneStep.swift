import DinoRuntime
import DinoTraining
import XCTest

extension StepParityTests {
  /// Loss and every student, teacher and center buffer after one step of `plan` from
  /// reference case `c`'s weights and crops, on `threads` threads.
  static func oneStep(_ plan: String, _ c: Case, threads: Int) throws -> (
    Float, [String: [Float]]
  ) {
    let trainer = try DINOTrainer(plan: plan, threads: threads)
    try trainer.loadWeights(c.initial)
    try trainer.setCrops(c.crops)
    let loss = try trainer.step(c.scalars)
    var buffers: [String: [Float]] = [:]
    for name in trainer.studentBuffers + trainer.teacherBuffers + ["center"] {
      buffers[name] = Array(try trainer.runtime.buffer(name))
    }
    return (loss, buffers)
  }

  /// Asserts that one step of `plan` and of `expectedPlan` from case `c` give the same loss
  /// and buffers bit for bit, on 1 and on 2 threads.
  static func assertSameStepBitwise(
    _ plan: String, as expectedPlan: String, _ c: Case,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    for threads in [1, 2] {
      let (expectedLoss, expected) = try oneStep(expectedPlan, c, threads: threads)
      let (loss, got) = try oneStep(plan, c, threads: threads)
      XCTAssertEqual(
        loss.bitPattern, expectedLoss.bitPattern, "\(threads) threads: loss", file: file,
        line: line)
      XCTAssertEqual(Set(got.keys), Set(expected.keys), file: file, line: line)
      for (name, values) in expected {
        XCTAssertTrue(
          got[name]!.map(\.bitPattern) == values.map(\.bitPattern),
          "\(threads) threads: \(name) differs", file: file, line: line)
      }
    }
  }
}
