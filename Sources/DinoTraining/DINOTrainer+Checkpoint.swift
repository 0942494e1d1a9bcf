import DinoRuntime

extension DINOTrainer {
  /// Where a checkpoint left training.
  public struct CheckpointState: Hashable, Sendable {
    /// Epochs completed: training resumes at this epoch (official DINO's `epoch + 1`).
    public var epoch: Int
    /// Global iterations completed.
    public var step: Int
    /// The file's whole metadata.
    public var metadata: [String: String]
  }

  /// Writes every persistent buffer (student, teacher, center, adam_m, adam_v, adam_step)
  /// atomically to `path`, with metadata `epoch` and `step` (plus `metadata`).
  public func saveCheckpoint(
    to path: String, epoch: Int, step: Int, metadata: [String: String] = [:]
  ) throws(RuntimeError) {
    var all = metadata
    all["format"] = Self.checkpointFormat
    all["epoch"] = "\(epoch)"
    all["step"] = "\(step)"
    try runtime.saveBuffers(to: path, metadata: all)
  }

  /// Loads a checkpoint written by `saveCheckpoint`: every buffer of the plan must be in
  /// it, with the plan's shapes.
  /// - Returns: where training stopped.
  @discardableResult
  public func loadCheckpoint(contentsOf path: String) throws(RuntimeError) -> CheckpointState {
    let file = try Self.read(path)
    guard file.metadata["format"] == Self.checkpointFormat else {
      throw RuntimeError(
        "\(path) is not a dino checkpoint (metadata format is "
          + "'\(file.metadata["format"] ?? "missing")', expected '\(Self.checkpointFormat)')")
    }
    guard let epoch = file.metadata["epoch"].flatMap({ Int($0) }), epoch >= 0,
      let step = file.metadata["step"].flatMap({ Int($0) }), step >= 0
    else {
      throw RuntimeError("\(path): checkpoint metadata lacks a valid 'epoch' and 'step'")
    }
    try runtime.loadBuffers(file, required: runtime.bufferNames, source: path)
    return CheckpointState(epoch: epoch, step: step, metadata: file.metadata)
  }

  /// The `format` metadata value of checkpoints.
  public static let checkpointFormat = "dino-checkpoint-1"
}
