import DinoRuntime
import Foundation

/// When and where a training run saves: `checkpoint.safetensors` at each epoch end, every
/// `minutes` of wall time, and when stopped; `checkpoint<epoch:04d>.safetensors` copies
/// every `everyEpochs` epochs, written before the main file is replaced. Each file is
/// written atomically (temporary file, fsync, rename, fsync of the folder), so a kill at
/// any moment leaves the previous checkpoint loadable.
struct TrainingCheckpoints {
  /// The output folder.
  let folder: String
  /// Keep a numbered copy when epoch % everyEpochs == 0 (0: never).
  let everyEpochs: Int
  /// Save mid-epoch after this many minutes since the last save (0: never).
  let minutes: Double
  /// When the last checkpoint was written (monotonic seconds).
  private(set) var lastSave: Double

  init(folder: String, everyEpochs: Int, minutes: Double, now: Double) {
    self.folder = folder
    self.everyEpochs = everyEpochs
    self.minutes = minutes
    lastSave = now
  }

  /// `<folder>/checkpoint.safetensors`.
  var path: String { folder + "/checkpoint.safetensors" }

  /// Whether a timed save is due at `now`.
  func isDue(now: Double) -> Bool { minutes > 0 && now - lastSave >= minutes * 60 }

  /// Saves the trainer's state after `step` global iterations; at an epoch end
  /// (`finishedEpoch`) the numbered copy comes first when it is due.
  mutating func save(
    _ trainer: DINOTrainer, step: Int, iterationsPerEpoch: Int, finishedEpoch: Int?,
    metadata: [String: String], now: Double
  ) throws(RuntimeError) {
    let epoch = step / iterationsPerEpoch
    if let finished = finishedEpoch, everyEpochs > 0, finished % everyEpochs == 0 {
      let numbered = folder + "/checkpoint" + String(format: "%04d", finished) + ".safetensors"
      try trainer.saveCheckpoint(to: numbered, epoch: epoch, step: step, metadata: metadata)
    }
    try trainer.saveCheckpoint(to: path, epoch: epoch, step: step, metadata: metadata)
    lastSave = now
  }

  /// Removes the temporary files a killed run left in `folder` (`.checkpoint….tmp.*`).
  /// - Returns: the names removed.
  @discardableResult
  static func removeStaleTemporaries(in folder: String) -> [String] {
    let names = (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? []
    let stale = names.filter { $0.hasPrefix(".checkpoint") && $0.contains(".safetensors.tmp.") }
    for name in stale { try? FileManager.default.removeItem(atPath: folder + "/" + name) }
    return stale.sorted()
  }
}
