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

extension StepParityTests {
  /// Asserts that one step of `plan` agrees with one of `expectedPlan` from case `c`, on 1 and
  /// on 2 threads, within the tolerances `checkParity` allows against the official step
  /// (loss 2e-6 relative; students per `tolerance`, from `expectedPlan`'s gradients; teachers
  /// (1 − m) of their student's plus 4 ulps; center 1e-7 + 2e-6·|x|): for plans whose
  /// kernels sum in another order.
  static func assertSameStepWithinParityTolerance(
    _ plan: String, as expectedPlan: String, _ c: Case,
    file: StaticString = #filePath, line: UInt = #line
  ) throws {
    for threads in [1, 2] {
      let reference = try DINOTrainer(plan: expectedPlan, threads: threads)
      try reference.loadWeights(c.initial)
      try reference.setCrops(c.crops)
      let expectedLoss = try reference.step(c.scalars)
      let (loss, got) = try oneStep(plan, c, threads: threads)
      XCTAssertEqual(
        Double(loss), Double(expectedLoss), accuracy: 2e-6 * abs(Double(expectedLoss)),
        "\(threads) threads: loss", file: file, line: line)
      var table = ParityTable()
      var studentTolerance: [String: [Double]] = [:]
      for student in reference.studentBuffers {
        let expected = Array(try reference.runtime.buffer(student))
        let (tolerance, _) = try tolerance(student, trainer: reference, expected: expected, c: c)
        studentTolerance[student] = tolerance
        table.add("student", student, got: got[student]!, expected: expected, tolerance: tolerance)
      }
      for teacher in reference.teacherBuffers {
        let expected = Array(try reference.runtime.buffer(teacher))
        let inherited = studentTolerance["student" + teacher.dropFirst("teacher".count)]!
        let tolerance = zip(inherited, expected).map { (1 - c.momentum) * $0 + ulps(4, $1) }
        table.add("teacher", teacher, got: got[teacher]!, expected: expected, tolerance: tolerance)
      }
      let center = Array(try reference.runtime.buffer("center"))
      table.add(
        "center", "center", got: got["center"]!, expected: center,
        tolerance: center.map { 1e-7 + 2e-6 * abs(Double($0)) })
      for failure in table.failures.prefix(10) {
        XCTFail("\(threads) threads: \(failure)", file: file, line: line)
      }
    }
  }
}
