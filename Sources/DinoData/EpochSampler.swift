import DinoRandom

/// The per-epoch sample order, as `DistributedSampler(shuffle=True, seed)` with
/// `set_epoch(epoch)` and a `drop_last=True` loader: a fresh permutation each epoch, padded by
/// repeating its start to a multiple of the world size, rank r taking positions r, r+W, …,
/// then cut into ⌊count/B⌋ full batches.
///
/// The permutation is Fisher–Yates with position i's draw keyed
/// (seed, epoch, 2^64 − 1, i) in `CounterRandom.hash` — the same law as torch.randperm,
/// not the same numbers.
public struct EpochSampler: Sendable {
  /// Dataset size.
  public let count: Int
  /// Images per batch on this rank.
  public let batchSize: Int
  /// The run's seed.
  public let seed: UInt64
  /// This process's rank.
  public let rank: Int
  /// Number of processes.
  public let worldSize: Int

  /// Creates a sampler; throws when not even one full batch fits.
  public init(count: Int, batchSize: Int, seed: UInt64, rank: Int = 0, worldSize: Int = 1)
    throws(DataError)
  {
    guard worldSize >= 1, rank >= 0, rank < worldSize else {
      throw DataError("rank \(rank) is outside a world of \(worldSize)")
    }
    self.count = count
    self.batchSize = batchSize
    self.seed = seed
    self.rank = rank
    self.worldSize = worldSize
    guard batchesPerEpoch >= 1 else {
      throw DataError(
        "\(count) images give no full batch of \(batchSize)"
          + (worldSize > 1 ? " on each of \(worldSize) processes" : ""))
    }
  }

  /// Samples per rank per epoch (⌈count / worldSize⌉).
  public var samplesPerRank: Int { (count + worldSize - 1) / worldSize }

  /// Full batches per epoch (the trailing partial batch is dropped).
  public var batchesPerEpoch: Int { samplesPerRank / batchSize }

  /// The epoch's permutation of 0..<count.
  public func permutation(epoch: Int) -> [Int32] {
    var order = (0..<count).map { Int32($0) }
    var i = count - 1
    while i > 0 {
      let j = CounterRandom.below(
        i + 1, CounterRandom.hash(seed, UInt64(epoch), UInt64.max, UInt64(i)))
      order.swapAt(i, j)
      i -= 1
    }
    return order
  }

  /// This rank's dataset indices for `epoch` (`samplesPerRank` of them).
  public func order(epoch: Int) -> [Int32] {
    let perm = permutation(epoch: epoch)
    if worldSize == 1 { return perm }
    let total = samplesPerRank * worldSize
    return stride(from: rank, to: total, by: worldSize).map { perm[$0 % count] }
  }
}
