import DinoData
import XCTest

final class LoaderTests: XCTestCase {
  func smallConfig(channels: Int = 3, batch: Int = 4) throws -> MultiCropConfig {
    try MultiCropConfig(hyper: [
      "global_size": 24, "local_size": 10, "local_crops": 3, "channels": Double(channels),
      "batch": Double(batch), "seed": 11,
    ])
  }

  /// The first `count` batches as flat float arrays (all views) plus their sample indices.
  func collect(_ loader: BatchLoader, _ count: Int) throws -> [(
    epoch: Int, index: Int, data: [Float], samples: [Int32]
  )] {
    try (0..<count).map { _ in
      try loader.withNextBatch { batch in
        (
          batch.epoch, batch.index, (0..<batch.viewCount).flatMap { Array(batch.view($0)) },
          Array(batch.samples)
        )
      }
    }
  }

  func testSameSeedGivesIdenticalBatchesWhateverTheThreadCount() throws {
    let dir = try TempDir()
    let root = try makeFolder(in: dir, root: "ds", classes: ["a", "b", "c"], perClass: 6)
    let folder = try ImageFolder(path: root)
    let config = try smallConfig()
    let one = try collect(BatchLoader(folder: folder, config: config, workers: 1, prefetch: 2), 6)
    let three = try collect(BatchLoader(folder: folder, config: config, workers: 3, prefetch: 4), 6)
    XCTAssertEqual(one.map(\.epoch), [0, 0, 0, 0, 1, 1])  // 18 images, batch 4: 4 per epoch
    XCTAssertEqual(one.map(\.index), [0, 1, 2, 3, 0, 1])
    for (a, b) in zip(one, three) {
      XCTAssertEqual(a.samples, b.samples)
      XCTAssertEqual(a.data, b.data)
    }
    // Each epoch's batches are distinct images from a fresh permutation.
    let epoch0 = one.prefix(4).flatMap(\.samples)
    XCTAssertEqual(Set(epoch0).count, 16)
    XCTAssertNotEqual(Array(one[4].samples), Array(one[0].samples))
    // Resuming at epoch 1, batch 1 gives exactly batch 5 of the uninterrupted run.
    let resumed = try collect(
      BatchLoader(folder: folder, config: config, workers: 2, startEpoch: 1, startBatch: 1), 1)
    XCTAssertEqual(resumed[0].epoch, 1)
    XCTAssertEqual(resumed[0].index, 1)
    XCTAssertEqual(resumed[0].data, one[5].data)
    // Another seed gives other crops.
    var reseeded = config
    reseeded.seed = 12
    let other = try collect(BatchLoader(folder: folder, config: reseeded, workers: 1), 1)
    XCTAssertNotEqual(other[0].data, one[0].data)
  }

  func testBatchLayoutAndLabels() throws {
    let dir = try TempDir()
    let root = try makeFolder(in: dir, root: "ds", classes: ["a", "b"], perClass: 4)
    let folder = try ImageFolder(path: root)
    let loader = try BatchLoader(folder: folder, config: try smallConfig(batch: 3), workers: 2)
    XCTAssertEqual(loader.batchesPerEpoch, 2)  // 8 images, drop_last
    try loader.withNextBatch { batch in
      XCTAssertEqual(
        batch.shapes,
        [[3, 3, 24, 24], [3, 3, 24, 24], [3, 3, 10, 10], [3, 3, 10, 10], [3, 3, 10, 10]])
      XCTAssertEqual(batch.view(0).count, 3 * 3 * 24 * 24)
      XCTAssertEqual(batch.view(4).count, 3 * 3 * 10 * 10)
      for (label, sample) in zip(batch.labels, batch.samples) {
        XCTAssertEqual(label, folder.labels[Int(sample)])
      }
      // Normalised values lie in [(0 − mean)/std, (1 − mean)/std].
      let v = batch.view(2)
      XCTAssertGreaterThanOrEqual(v.min()!, (0 - 0.485) / 0.229 - 1e-5)
      XCTAssertLessThanOrEqual(v.max()!, (1 - 0.406) / 0.225 + 1e-5)
      XCTAssertGreaterThan(Set(v).count, 50)
    }
    XCTAssertGreaterThanOrEqual(loader.waitSeconds, 0)
    XCTAssertGreaterThanOrEqual(loader.takeWaitSeconds(), 0)
    XCTAssertNil(loader.skipSummary())
  }

  func testTruncatedAndNonImageFilesAreSkippedAndCounted() throws {
    let dir = try TempDir()
    let root = try makeFolder(in: dir, root: "ds", classes: ["a", "b"], perClass: 5)
    let good = testPattern(width: 50, height: 40, channels: 3)
    try good.writeJPEG(to: root + "/a/broken.jpg")
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: root + "/a/broken.jpg")))
    try dir.write("ds/a/broken.jpg", Array(bytes.prefix(bytes.count * 2 / 3)))
    try dir.write("ds/a/fake.jpg", Array("this is text".utf8))
    try dir.write("ds/b/notes.txt", Array("not an image".utf8))
    let folder = try ImageFolder(path: root)
    XCTAssertEqual(folder.count, 12)  // 10 good + 2 bad named like images
    let bad = Set(
      (0..<folder.count).filter {
        folder.relativePath($0).hasPrefix("a/broken") || folder.relativePath($0).hasPrefix("a/fake")
      }.map(Int32.init))
    XCTAssertEqual(bad.count, 2)
    let loader = try BatchLoader(folder: folder, config: try smallConfig(batch: 4), workers: 2)
    for _ in 0..<(2 * loader.batchesPerEpoch) {  // two epochs: every file is drawn
      try loader.withNextBatch { batch in
        XCTAssertTrue(Set(batch.samples).isDisjoint(with: bad))
        XCTAssertFalse(batch.view(0).contains { !$0.isFinite })
      }
    }
    XCTAssertEqual(loader.skipped.count, 3)
    let line = try XCTUnwrap(loader.skipSummary())
    XCTAssertTrue(
      line.hasPrefix(
        "skipped 3 of 13 files under \(root): b/notes.txt (not a .jpg/.jpeg/.png file), "), line)
    XCTAssertTrue(line.contains("a/broken.jpg (truncated JPEG data)"), line)
    XCTAssertTrue(line.contains("a/fake.jpg (not a JPEG or PNG image)"), line)
    XCTAssertFalse(line.contains("\n"))
  }

  func testChannelConversions() throws {
    let dir = try TempDir()
    let greyRoot = try makeFolder(in: dir, root: "grey", classes: ["a"], perClass: 4, channels: 1)
    // A grey dataset into a 3-channel model: the three channels hold the same pixels.
    let loader = try BatchLoader(
      folder: try ImageFolder(path: greyRoot), config: try smallConfig(batch: 2), workers: 1)
    try loader.withNextBatch { batch in
      let v = batch.view(0)
      let plane = 24 * 24
      let mean: [Float] = [0.485, 0.456, 0.406]
      let std: [Float] = [0.229, 0.224, 0.225]
      for i in stride(from: 0, to: plane, by: 7) {
        let pixel = (0..<3).map { v[$0 * plane + i] * std[$0] + mean[$0] }
        XCTAssertEqual(pixel[0], pixel[1], accuracy: 1e-5)
        XCTAssertEqual(pixel[0], pixel[2], accuracy: 1e-5)
      }
    }
    // A colour dataset into a 1-channel model: luma, one plane, luma normalisation.
    let rgbRoot = try makeFolder(in: dir, root: "rgb", classes: ["a"], perClass: 4, channels: 3)
    let single = try BatchLoader(
      folder: try ImageFolder(path: rgbRoot), config: try smallConfig(channels: 1, batch: 2),
      workers: 1)
    try single.withNextBatch { batch in
      XCTAssertEqual(batch.shapes[0], [2, 1, 24, 24])
      XCTAssertEqual(batch.view(0).count, 2 * 24 * 24)
      XCTAssertGreaterThanOrEqual(batch.view(0).min()!, (0 - 0.4590) / 0.2256 - 1e-5)
    }
  }

  func testTooFewImagesForABatchIsAnError() throws {
    let dir = try TempDir()
    let root = try makeFolder(in: dir, root: "ds", classes: ["a"], perClass: 3)
    XCTAssertThrowsError(
      try BatchLoader(folder: try ImageFolder(path: root), config: try smallConfig(batch: 4))
    ) {
      XCTAssertEqual(($0 as? DataError)?.message, "3 images give no full batch of 4")
    }
  }

  func testSamplerIsAPermutationPerEpochAndShardsAcrossRanks() throws {
    let s = try EpochSampler(count: 10, batchSize: 2, seed: 3)
    XCTAssertEqual(s.permutation(epoch: 0).sorted(), (0..<10).map(Int32.init))
    XCTAssertNotEqual(s.permutation(epoch: 0), s.permutation(epoch: 1))
    XCTAssertEqual(s.batchesPerEpoch, 5)
    // 3 ranks: 10 padded to 12, rank r takes positions r, r+3, …
    let ranks = try (0..<3).map {
      try EpochSampler(count: 10, batchSize: 2, seed: 3, rank: $0, worldSize: 3)
    }
    let perm = s.permutation(epoch: 2)
    XCTAssertEqual(ranks[1].order(epoch: 2), [perm[1], perm[4], perm[7], perm[0]])
    XCTAssertEqual(ranks[0].batchesPerEpoch, 2)
  }

  /// DistributedSampler coverage: over the ranks, an epoch holds every image exactly once
  /// plus the padding (the permutation's first images again), and global step k's
  /// batches together are the images one process with batch N·B takes at step k.
  func testShardsCoverEveryImageOnceAndMakeTheGlobalBatch() throws {
    for (count, world, batch) in [(10, 3, 2), (18, 2, 2), (12, 4, 3), (7, 2, 1), (9, 1, 4)] {
      let single = try EpochSampler(count: count, batchSize: world * batch, seed: 11)
      let ranks = try (0..<world).map {
        try EpochSampler(count: count, batchSize: batch, seed: 11, rank: $0, worldSize: world)
      }
      for epoch in 0..<3 {
        let perm = single.permutation(epoch: epoch)
        let orders = ranks.map { $0.order(epoch: epoch) }
        let padded = ranks[0].samplesPerRank * world
        let padding = perm[0..<(padded - count)]
        XCTAssertEqual(
          orders.flatMap { $0 }.sorted(), (Array(0..<Int32(count)) + padding).sorted(),
          "\(count) images over \(world) ranks, epoch \(epoch)")
        let steps = min(ranks[0].batchesPerEpoch, single.batchesPerEpoch)
        for step in 0..<steps {
          let together = orders.flatMap { $0[(step * batch)..<((step + 1) * batch)] }
          let global = perm[(step * world * batch)..<((step + 1) * world * batch)]
          XCTAssertEqual(together.sorted(), global.sorted(), "step \(step)")
        }
      }
    }
  }
}
