import CDinoImage
import Foundation

/// The evaluation transform of eval_knn.py / eval_linear.py: Resize(shorter side to
/// `resizeSize`, Pillow bicubic; longer side int(resizeSize·long/short)), CenterCrop(`size`)
/// with offsets round((H − size)/2) (ties to even, as Python), ToTensor, Normalize.
public struct EvalTransform: Sendable, Equatable {
  /// Output side (the model's global crop size).
  public var size: Int
  /// Shorter side after the resize; default round(size · 256/224) (256 for 224, 32 for 28).
  public var resizeSize: Int
  /// Channels the model takes (1 or 3).
  public var channels: Int
  /// The normalisation.
  public var normalization: Normalization

  /// Creates a transform; `normalization` defaults to the channel count's standard one.
  public init(size: Int, channels: Int, resizeSize: Int? = nil, normalization: Normalization? = nil)
    throws(DataError)
  {
    guard size >= 1, size <= 4096 else { throw DataError("evaluation size must be in 1...4096") }
    guard channels == 1 || channels == 3 else {
      throw DataError("channels = \(channels): the data pipeline supports 1 or 3")
    }
    let resize = resizeSize ?? Int((Double(size) * 256 / 224).rounded())
    guard resize >= size else { throw DataError("resize \(resize) is smaller than size \(size)") }
    self.size = size
    self.channels = channels
    self.resizeSize = resize
    self.normalization = normalization ?? .standard(channels: channels)
  }

  /// The transform matching a multi-crop recipe (global size, channels, normalisation).
  public init(config: MultiCropConfig) throws(DataError) {
    try self.init(
      size: config.globalSize, channels: config.channels,
      normalization: config.normalization)
  }

  /// Floats per image (channels × size²).
  public var floatsPerImage: Int { channels * size * size }

  /// Resized dimensions and the crop box (in resized pixels) for a width × height image.
  public func geometry(width: Int, height: Int) -> (width: Int, height: Int, crop: CropBox) {
    var w = width
    var h = height
    if !((width <= height && width == resizeSize) || (height <= width && height == resizeSize)) {
      if width < height {
        w = resizeSize
        h = Int(Double(resizeSize) * Double(height) / Double(width))
      } else {
        h = resizeSize
        w = Int(Double(resizeSize) * Double(width) / Double(height))
      }
    }
    let top = Int((Double(h - size) / 2).rounded(.toNearestOrEven))
    let left = Int((Double(w - size) / 2).rounded(.toNearestOrEven))
    return (w, h, CropBox(x: left, y: top, width: size, height: size))
  }

  /// Transforms one image into channels × size × size floats.
  public func apply(_ image: Image) throws(DataError) -> [Float] {
    let src = image.channels == 3 && channels == 1 ? image.luma() : image
    var out = [Float](repeating: 0, count: floatsPerImage)
    let workspace = ViewWorkspace()
    let rc = src.withCImage { img in
      out.withUnsafeMutableBufferPointer { apply(img, into: $0.baseAddress!, workspace: workspace) }
    }
    guard rc == 0 else { throw DataError("cannot transform image (code \(rc))") }
    return out
  }

  func apply(
    _ img: UnsafePointer<dino_image>, into out: UnsafeMutablePointer<Float>,
    workspace: ViewWorkspace
  ) -> Int32 {
    let g = geometry(width: Int(img.pointee.width), height: Int(img.pointee.height))
    return normalization.mean.withUnsafeBufferPointer { mean in
      normalization.std.withUnsafeBufferPointer { std in
        dino_render_eval(
          img, Int32(g.width), Int32(g.height), Int32(g.crop.x), Int32(g.crop.y),
          Int32(size), Int32(channels), mean.baseAddress, std.baseAddress, out,
          &workspace.ws)
      }
    }
  }
}

/// A batch of evaluation images in dataset order.
///
/// Valid only inside the `forEachBatch` body that received it.
public struct EvalBatch {
  /// Dataset index of the first image.
  public let start: Int
  /// Images in this batch (the last batch may be short).
  public let count: Int
  /// Shape of `images`: [count, C, S, S].
  public let shape: [Int]
  let buffers: BatchBuffers

  /// The images, float32 [count, C, S, S]; undecodable ones are zeros.
  public var images: UnsafeBufferPointer<Float> {
    UnsafeBufferPointer(start: buffers.floats, count: shape.reduce(1, *))
  }

  /// Labels of the images.
  public var labels: UnsafeBufferPointer<Int32> {
    UnsafeBufferPointer(start: buffers.labels, count: count)
  }

  /// 1 for each image that decoded, 0 for a skipped file (leave it out of the features).
  public var valid: UnsafeBufferPointer<UInt8> {
    UnsafeBufferPointer(start: buffers.valid, count: count)
  }
}

/// Every image of a folder through the evaluation transform, in dataset order, in batches
/// prefetched by worker threads (for k-NN features and linear probes).
public final class EvalLoader: @unchecked Sendable {
  /// The dataset.
  public let folder: ImageFolder
  /// The transform.
  public let transform: EvalTransform
  /// Images per batch.
  public let batchSize: Int
  private let skips = SkipRegistry()
  private let workers: Int
  private let prefetch: Int

  /// Creates a loader; nothing runs until `forEachBatch`.
  public init(
    folder: ImageFolder, transform: EvalTransform, batchSize: Int,
    workers: Int = BatchLoader.defaultWorkers, prefetch: Int = 2
  ) throws(DataError) {
    guard batchSize >= 1 else { throw DataError("batch size must be positive") }
    guard workers >= 1, workers <= 256 else { throw DataError("workers must be in 1...256") }
    guard prefetch >= 2, prefetch <= 64 else { throw DataError("prefetch must be in 2...64") }
    self.folder = folder
    self.transform = transform
    self.batchSize = batchSize
    self.workers = workers
    self.prefetch = prefetch
  }

  /// Number of batches (the last one may be short).
  public var batchCount: Int { (folder.count + batchSize - 1) / batchSize }

  /// Runs `body` on every batch in order.
  public func forEachBatch(_ body: (EvalBatch) throws -> Void) throws {
    let n = folder.count
    let b = batchSize
    let transform = transform
    let folder = folder
    let skips = skips
    let slots = (0..<prefetch).map { _ in
      BatchBuffers(batchSize: b, viewFloats: [transform.floatsPerImage])
    }
    let states = (0..<workers).map { _ in WorkerState() }
    let prefetcher = Prefetcher(
      depth: prefetch, workers: workers, nice: 0, itemCount: { g in max(0, min(b, n - g * b)) },
      job: { worker, g, item, slot in
        let index = g * b + item
        let state = states[worker]
        let target = slots[slot].floats + item * transform.floatsPerImage
        slots[slot].labels[item] = folder.labels[index]
        slots[slot].samples[item] = Int32(index)
        if let problem = state.decoder.load(
          folder.paths[index],
          channels: transform.channels == 1 ? 1 : 0)
        {
          skips.record(index, SkippedFile(path: folder.relativePath(index), reason: problem))
          target.update(repeating: 0, count: transform.floatsPerImage)
          slots[slot].valid[item] = 0
          return nil
        }
        slots[slot].valid[item] = 1
        let rc = withUnsafePointer(to: state.decoder.decoded) {
          transform.apply($0, into: target, workspace: state.workspace)
        }
        return rc == 0 ? nil : "cannot transform \(folder.paths[index]) (code \(rc))"
      })
    prefetcher.start()
    defer { prefetcher.stop() }
    while let (slot, g) = try prefetcher.acquire() {
      let count = min(b, n - g * b)
      let batch = EvalBatch(
        start: g * b, count: count,
        shape: [count, transform.channels, transform.size, transform.size],
        buffers: slots[slot])
      defer { prefetcher.release(slot) }
      try body(batch)
    }
  }

  /// Files skipped so far (non-image names, then undecodable files).
  public var skipped: [SkippedFile] { folder.ignored + skips.files }

  /// One line naming the skipped files, or nil when none were.
  public func skipSummary() -> String? {
    SkippedFile.summary(skipped, total: folder.count + folder.ignored.count, root: folder.root)
  }
}
