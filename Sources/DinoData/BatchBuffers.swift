/// One slot of a loader's ring: V float tensors [B, C, S_v, S_v] in one 64-byte-aligned
/// block (globals first), plus per-sample labels, dataset indices and validity flags.
final class BatchBuffers: @unchecked Sendable {
  let floats: UnsafeMutablePointer<Float>
  let offsets: [Int]
  let counts: [Int]
  let labels: UnsafeMutablePointer<Int32>
  let samples: UnsafeMutablePointer<Int32>
  let valid: UnsafeMutablePointer<UInt8>
  let batchSize: Int

  /// `viewFloats[v]` is the size of one sample of view v.
  init(batchSize: Int, viewFloats: [Int]) {
    self.batchSize = batchSize
    var offsets: [Int] = []
    var total = 0
    for f in viewFloats {
      offsets.append(total)
      total += (batchSize * f + 15) / 16 * 16  // keep every view 64-byte aligned
    }
    self.offsets = offsets
    counts = viewFloats.map { $0 * batchSize }
    let raw = UnsafeMutableRawPointer.allocate(byteCount: max(total, 1) * 4, alignment: 64)
    floats = raw.bindMemory(to: Float.self, capacity: max(total, 1))
    floats.initialize(repeating: 0, count: max(total, 1))
    labels = .allocate(capacity: batchSize)
    labels.initialize(repeating: 0, count: batchSize)
    samples = .allocate(capacity: batchSize)
    samples.initialize(repeating: 0, count: batchSize)
    valid = .allocate(capacity: batchSize)
    valid.initialize(repeating: 0, count: batchSize)
  }

  deinit {
    UnsafeMutableRawPointer(floats).deallocate()
    labels.deallocate()
    samples.deallocate()
    valid.deallocate()
  }

  /// Where sample `item` of view `v` goes (`perSample` floats each).
  func target(view v: Int, item: Int, perSample: Int) -> UnsafeMutablePointer<Float> {
    floats + offsets[v] + item * perSample
  }
}

/// Per-worker state, touched only by its own worker thread.
final class WorkerState: @unchecked Sendable {
  var decoder = Decoder()
  let workspace = ViewWorkspace()

  deinit { decoder.free() }
}
