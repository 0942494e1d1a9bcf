import CDinoImage
import Foundation

/// One multi-crop training batch, laid out as the trainer's inputs `crop0…crop{V-1}`.
///
/// Valid only inside the `withNextBatch` body that received it (the memory is reused).
public struct Batch {
  /// Epoch of this batch.
  public let epoch: Int
  /// Index of the batch within its epoch.
  public let index: Int
  /// Images in the batch.
  public let batchSize: Int
  /// Shape of each view tensor, [B, C, S, S] (globals first).
  public let shapes: [[Int]]
  let buffers: BatchBuffers

  /// Number of views V.
  public var viewCount: Int { shapes.count }

  /// View `v` as a contiguous float32 tensor [B, C, S_v, S_v].
  public func view(_ v: Int) -> UnsafeBufferPointer<Float> {
    UnsafeBufferPointer(start: buffers.floats + buffers.offsets[v], count: buffers.counts[v])
  }

  /// Class label of each image (unused by pretraining).
  public var labels: UnsafeBufferPointer<Int32> {
    UnsafeBufferPointer(start: buffers.labels, count: batchSize)
  }

  /// Dataset index of each image actually shown (a replacement when the drawn one could
  /// not be decoded).
  public var samples: UnsafeBufferPointer<Int32> {
    UnsafeBufferPointer(start: buffers.samples, count: batchSize)
  }
}

/// Multi-crop training batches from an image folder, prefetched by worker threads.
///
/// The stream starts at (`startEpoch`, `startBatch`) and runs through the epochs without
/// end; each epoch has `batchesPerEpoch` batches (EpochSampler order, drop_last). Every
/// view is a pure function of (seed, epoch, dataset index, view), so batches are identical
/// whatever the number of workers and wherever the run resumes. Undecodable files are
/// skipped (the next decodable index in dataset order takes the slot, with the drawn
/// index's randomness) and reported by `skipSummary()`.
public final class BatchLoader: @unchecked Sendable {
  /// The dataset.
  public let folder: ImageFolder
  /// The recipe.
  public let config: MultiCropConfig
  /// The per-epoch order.
  public let sampler: EpochSampler
  /// The augmentation.
  public let augmenter: MultiCropAugmenter

  private let prefetcher: Prefetcher
  private let slots: [BatchBuffers]
  private let skips = SkipRegistry()
  private let firstStep: Int
  private var reportedWait: Double = 0

  /// Worker threads to use by default: one per four cores, at least one, leaving the
  /// rest to the OpenMP compute threads.
  public static var defaultWorkers: Int {
    max(1, ProcessInfo.processInfo.activeProcessorCount / 4)
  }

  /// Creates the loader and starts its workers.
  /// - Parameters:
  ///   - workers: decoding/augmentation threads.
  ///   - prefetch: batch slots in the ring (≥ 2): how far workers may run ahead.
  ///   - startEpoch, startBatch: where the stream begins (for resuming).
  ///   - rank, worldSize: this process's share of each epoch (DistributedSampler).
  ///   - nice: how much lower the workers' scheduling priority is than the trainer's.
  public init(
    folder: ImageFolder, config: MultiCropConfig, workers: Int = BatchLoader.defaultWorkers,
    prefetch: Int = 2, startEpoch: Int = 0, startBatch: Int = 0, rank: Int = 0,
    worldSize: Int = 1, nice: Int32 = 5
  ) throws(DataError) {
    try config.validate()
    guard workers >= 1, workers <= 256 else { throw DataError("workers must be in 1...256") }
    guard prefetch >= 2, prefetch <= 64 else { throw DataError("prefetch must be in 2...64") }
    let sampler = try EpochSampler(
      count: folder.count, batchSize: config.batchSize, seed: config.seed, rank: rank,
      worldSize: worldSize)
    guard startEpoch >= 0, startBatch >= 0, startBatch < sampler.batchesPerEpoch else {
      throw DataError(
        "cannot start at epoch \(startEpoch) batch \(startBatch) "
          + "(\(sampler.batchesPerEpoch) batches per epoch)")
    }
    self.folder = folder
    self.config = config
    self.sampler = sampler
    augmenter = MultiCropAugmenter(config: config)
    firstStep = startEpoch * sampler.batchesPerEpoch + startBatch
    let viewFloats = (0..<config.viewCount).map { config.floats(ofView: $0) }
    let slots = (0..<prefetch).map { _ in
      BatchBuffers(batchSize: config.batchSize, viewFloats: viewFloats)
    }
    self.slots = slots
    let states = (0..<workers).map { _ in WorkerState() }
    let orders = EpochOrders(sampler: sampler)
    let render = SampleRenderer(
      folder: folder, augmenter: augmenter, skips: skips, viewFloats: viewFloats)
    let first = firstStep
    let perEpoch = sampler.batchesPerEpoch
    let batch = config.batchSize
    prefetcher = Prefetcher(
      depth: prefetch, workers: workers, nice: nice, itemCount: { _ in batch },
      job: { worker, g, item, slot in
        let step = first + g
        let epoch = step / perEpoch
        let position = (step % perEpoch) * batch + item
        let index = Int(orders.order(epoch)[position])
        return render.render(
          index: index, epoch: epoch, item: item, into: slots[slot], state: states[worker])
      })
    prefetcher.start()
  }

  deinit { prefetcher.stop() }

  /// Full batches per epoch.
  public var batchesPerEpoch: Int { sampler.batchesPerEpoch }

  /// Waits for the next batch (measuring the wait), runs `body` on it, then recycles its
  /// memory. The batch must not be used after `body` returns.
  public func withNextBatch<R>(_ body: (Batch) throws -> R) throws -> R {
    guard let (slot, g) = try prefetcher.acquire() else {
      throw DataError("the training stream has no end; this cannot happen")
    }
    defer { prefetcher.release(slot) }
    let step = firstStep + g
    let batch = Batch(
      epoch: step / batchesPerEpoch, index: step % batchesPerEpoch,
      batchSize: config.batchSize,
      shapes: (0..<config.viewCount).map { config.shape(ofView: $0) }, buffers: slots[slot])
    return try body(batch)
  }

  /// Total seconds the caller has waited for batches.
  public var waitSeconds: Double { prefetcher.waitSeconds }

  /// Seconds waited since the previous call (for per-interval logging).
  public func takeWaitSeconds() -> Double {
    let total = prefetcher.waitSeconds
    defer { reportedWait = total }
    return total - reportedWait
  }

  /// Files skipped so far: those not named .jpg/.jpeg/.png, then undecodable ones.
  public var skipped: [SkippedFile] { folder.ignored + skips.files }

  /// One line naming the skipped files, or nil when none were.
  public func skipSummary() -> String? {
    SkippedFile.summary(skipped, total: folder.count + folder.ignored.count, root: folder.root)
  }
}

/// Per-epoch orders, computed once per epoch and shared by the workers.
final class EpochOrders: @unchecked Sendable {
  private let sampler: EpochSampler
  private let lock = NSLock()
  private var cache: [(epoch: Int, order: [Int32])] = []

  init(sampler: EpochSampler) { self.sampler = sampler }

  func order(_ epoch: Int) -> [Int32] {
    lock.lock()
    defer { lock.unlock() }
    if let hit = cache.first(where: { $0.epoch == epoch }) { return hit.order }
    let order = sampler.order(epoch: epoch)
    cache.append((epoch, order))
    if cache.count > 3 { cache.removeFirst() }
    return order
  }
}

/// Decodes a sample (with deterministic replacement of undecodable files) and renders all
/// of its views into a batch slot.
struct SampleRenderer: Sendable {
  let folder: ImageFolder
  let augmenter: MultiCropAugmenter
  let skips: SkipRegistry
  let viewFloats: [Int]

  /// Decodes dataset index `index` or, if it cannot be decoded, the next index (in
  /// dataset order, wrapping) that can. Returns the index decoded, or an error message
  /// when no file of the folder decodes.
  static func decode(
    _ index: Int, folder: ImageFolder, channels: Int, skips: SkipRegistry, state: WorkerState
  ) -> Result<Int, DataError> {
    let n = folder.count
    for k in 0..<n {
      let candidate = (index + k) % n
      if skips.isBad(candidate) { continue }
      if let problem = state.decoder.load(folder.paths[candidate], channels: channels) {
        skips.record(candidate, SkippedFile(path: folder.relativePath(candidate), reason: problem))
      } else {
        return .success(candidate)
      }
    }
    return .failure(DataError("none of the \(n) image files under \(folder.root) could be decoded"))
  }

  func render(index: Int, epoch: Int, item: Int, into slot: BatchBuffers, state: WorkerState)
    -> String?
  {
    let config = augmenter.config
    let shown: Int
    switch Self.decode(
      index, folder: folder, channels: config.channels == 1 ? 1 : 0, skips: skips, state: state)
    {
    case .success(let i): shown = i
    case .failure(let e): return e.message
    }
    slot.labels[item] = folder.labels[shown]
    slot.samples[item] = Int32(shown)
    slot.valid[item] = 1
    let img = state.decoder.decoded
    for v in 0..<config.viewCount {
      let p = augmenter.parameters(
        epoch: epoch, sample: index, view: v, width: Int(img.width), height: Int(img.height))
      let rc = withUnsafePointer(to: img) {
        state.workspace.render(
          $0, p, config: config,
          into: slot.target(view: v, item: item, perSample: viewFloats[v]), preview: nil)
      }
      if rc != 0 { return "cannot render \(folder.paths[shown]) (code \(rc))" }
    }
    return nil
  }
}
