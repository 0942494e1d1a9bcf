import DinoRuntime
import DinoTraining

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
}
