import DinoRuntime
import Dispatch

/// Runs `train_step` so that a step going non-finite is caught and explained: before each
/// step it copies the regions `train_step` updates (student, Adam moments, center, …);
/// after it, a non-finite loss or a NaN/inf in the student's weights (one vectorised scan)
/// restores the copy, re-runs the step one instruction at a time (`Runtime.runChecked`),
/// restores the copy again (the weights stay those from before the step) and throws one
/// line naming the step and the first instruction that produced a non-finite value.
public final class StepGuard {
  /// The trainer guarded.
  public let trainer: DINOTrainer
  /// The copy of the regions `train_step` writes.
  public let snapshot: RegionSnapshot
  /// Seconds spent copying the snapshot, over all steps.
  public private(set) var snapshotSeconds = 0.0
  /// Seconds spent scanning the student weights, over all steps.
  public private(set) var scanSeconds = 0.0
  /// Steps guarded.
  public private(set) var steps = 0
  private let scanned: [String]
  /// The processes of a data-parallel run: a step fails on all of them when it fails on one.
  public let world: Communicator

  /// Prepares the snapshot memory for `trainer`'s `train_step`.
  public init(trainer: DINOTrainer, world: Communicator = Communicator()) throws(RuntimeError) {
    self.trainer = trainer
    self.world = world
    snapshot = try RegionSnapshot(
      trainer.runtime, regions: try trainer.runtime.regionsWritten(by: "train_step"))
    scanned = snapshot.regions.contains("student") ? ["student"] : []
  }

  /// Runs `train_step` with `scalars` (see `DINOTrainer.trainStep`).
  /// - Parameters:
  ///   - scalars: the step's scalar inputs.
  ///   - label: how the step is named in the error (`step 12 (epoch 0, iteration 12)`).
  /// - Returns: the loss, finite.
  /// - Throws: `RuntimeError` `<label>: loss is nan; first non-finite value: @train_step
  ///   %412 matmul … at model.swift:31:14 produced inf (…)` when the loss or the student's
  ///   weights are not finite; the weights are then those from before the step.
  public func trainStep(_ scalars: DINOTrainer.Scalars, label: String) throws(RuntimeError)
    -> Float
  {
    var started = Self.now()
    try snapshot.save()
    snapshotSeconds += Self.now() - started
    let loss = try trainer.trainStep(scalars)
    started = Self.now()
    let badWeight = loss.isFinite ? trainer.runtime.firstNonFiniteBuffer(inRegions: scanned) : nil
    scanSeconds += Self.now() - started
    steps += 1
    if world.isDistributed {
      // Every process learns which failed, so that all stop at this step. A non-finite
      // loss comes first: its gradients, averaged, make every process's weights non-finite.
      let flags = world.gather(!loss.isFinite ? 2 : badWeight != nil ? 1 : 0)
      guard let worst = flags.max(), worst > 0 else { return loss }
      let first = flags.firstIndex(of: worst)!
      if first != world.rank {
        try snapshot.restore()
        var quiet = RuntimeError("\(label): rank \(first) of \(world.size) failed")
        quiet.reportedElsewhere = true
        throw quiet
      }
    } else if loss.isFinite && badWeight == nil {
      return loss
    }
    let what =
      badWeight.map { "'\($0.name)' holds \(Self.text($0.value)) after the step" }
      ?? "loss is \(Self.text(loss))"
    throw RuntimeError("\(label): \(what); \(try explain())")
  }

  /// Restores the snapshot, re-runs `train_step` checked and restores again.
  /// - Returns: `first non-finite value: …`, or why none was found.
  public func explain() throws(RuntimeError) -> String {
    try trainer.runtime.rerunChecked("train_step", from: snapshot)
  }

  /// Mean milliseconds per step spent on the snapshot and on the weight scan.
  public var overheadMilliseconds: (snapshot: Double, scan: Double) {
    let n = Double(max(steps, 1))
    return (1000 * snapshotSeconds / n, 1000 * scanSeconds / n)
  }

  /// `nan`, `inf`, `-inf`.
  static func text(_ x: Float) -> String {
    x.isNaN ? "nan" : x.isInfinite ? (x < 0 ? "-inf" : "inf") : "\(x)"
  }

  /// Monotonic seconds.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
