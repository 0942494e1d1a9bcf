import CDinoKernels
import DinoRuntime

/// What the processes of a data-parallel run combine after each `train_step`, besides the
/// gradients (`Runtime.shareGradients`): the loss and the teacher statistics (means over
/// the processes, what rank 0 logs), the center, and at the end of the step a stop
/// request (SIGINT/SIGTERM on any process stops every one after the same step).
///
/// The center: each process's `train_step` computes c′ᵣ = m·c + (1 − m)·meanᵣ(t) from its
/// own batch; the mean of the c′ᵣ is m·c + (1 − m)·(Σᵣ Σ t)/(N·2B), official DINO's
/// `update_center` with its all-reduce, because the update is affine in the batch mean.
final class SharedStepValues {
  let trainer: DINOTrainer
  let world: Communicator
  /// The teacher statistics outputs of `train_step` the plan has.
  private let statistics: [UnsafeMutableBufferPointer<Float>]
  /// The center buffer, when the plan has one.
  private let center: UnsafeMutableBufferPointer<Float>?

  /// Finds the values of `trainer`'s plan.
  init(trainer: DINOTrainer, world: Communicator) throws(RuntimeError) {
    self.trainer = trainer
    self.world = world
    let outputs = Set(try trainer.runtime.outputs(of: "train_step").map(\.name))
    var statistics: [UnsafeMutableBufferPointer<Float>] = []
    for name in ["teacher_entropy", "teacher_mean_entropy", "center_norm"]
    where outputs.contains(name) {
      statistics.append(try trainer.runtime.outputFloats(name, program: "train_step"))
    }
    self.statistics = statistics
    center = trainer.hasCenter ? try trainer.runtime.buffer("center") : nil
  }

  /// Averages `loss`, the statistics and the center over the processes.
  func combine(loss: inout Float) {
    guard world.isDistributed else { return }
    let size = Double(world.size)
    var values = [Double(loss)] + statistics.map { Double($0[0]) }
    world.sum(&values)
    loss = Float(values[0] / size)
    for (i, output) in statistics.enumerated() {
      output[0] = Float(values[1 + i] / size)
    }
    if let center { world.average(center) }
  }

  /// The stop request every process agrees on at the end of a step: the first rank's
  /// pending signal (SIGINT/SIGTERM), or nil; in one process, `pending` itself.
  func agreeOnStop(_ pending: Int32?) -> Int32? {
    guard world.isDistributed else { return pending }
    return world.gather(Double(pending ?? 0)).first { $0 != 0 }.map { Int32($0) }
  }

  /// Checks that every process holds the same student, teacher and center (a CRC-32 of
  /// each process's regions, compared over the processes).
  func checkReplicasAgree(step: Int) throws(RuntimeError) {
    guard world.isDistributed else { return }
    let runtime = trainer.runtime
    var crc: UInt32 = 0
    for name in ["student", "teacher"] {
      let region = try runtime.region(name)
      crc = dino_crc32(crc, region.baseAddress, region.count)
    }
    if let center { crc = dino_crc32(crc, center.baseAddress, 4 * center.count) }
    let all = world.gather(Double(crc))
    if let differing = all.firstIndex(where: { $0 != all[0] }) {
      throw RuntimeError(
        "after iteration \(step) rank \(differing) holds other weights than rank 0 "
          + "(CRC-32 of student, teacher and center differ); the processes diverged: "
          + "check that every rank runs the same dino-run, plan and data")
    }
  }

  /// `Communication: … per step` for the end of the run.
  func communicationLine(steps: Int) -> String {
    let n = Double(max(steps, 1))
    return String(
      format: "Communication: %d ranks, %.3f MB all-reduced per step (%.3f MB of gradients "
        + "in %d buckets), %.2f ms per step in MPI calls, of which %.2f ms waiting for "
        + "the gradients", world.size, Double(world.bytes) / n / 1e6,
      Double(gradientBytes) / 1e6, bucketCount, 1000 * world.seconds / n,
      1000 * world.waitSeconds / n)
  }

  /// The `grad` region's buckets.
  private var buckets: [GradientBucket] {
    let plan = try? trainer.runtime.gradientBuckets(
      of: "train_step", bucketBytes: Runtime.gradientBucketBytes)
    return plan?.buckets ?? []
  }

  /// Bytes of the `grad` region's buckets.
  private var gradientBytes: Int { 4 * buckets.reduce(0) { $0 + $1.count } }

  /// Buckets of the `grad` region.
  private var bucketCount: Int { buckets.count }
}
