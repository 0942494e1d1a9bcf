import DinoRandom

/// The draws of one view of one sample: key (seed, epoch, sample, view << 32 | draw).
///
/// `sample` is the image's index in its `ImageFolder`; `view` is 0 and 1 for the global
/// views, 2… for the local ones. Draw numbers are fixed per purpose (see
/// `MultiCropAugmenter`), so skipping an operation never shifts another one's randomness.
public struct ViewDraws: Sendable, Equatable {
  /// The run's seed.
  public var seed: UInt64
  /// The epoch.
  public var epoch: UInt64
  /// The dataset index of the sample.
  public var sample: UInt64
  /// The view index.
  public var view: UInt64

  /// Keys the draws of one view.
  public init(seed: UInt64, epoch: Int, sample: Int, view: Int) {
    self.seed = seed
    self.epoch = UInt64(epoch)
    self.sample = UInt64(sample)
    self.view = UInt64(view)
  }

  /// The raw 64-bit hash of draw `n`.
  @inlinable
  public func bits(_ n: Int) -> UInt64 {
    CounterRandom.hash(seed, epoch, sample, (view << 32) | UInt64(UInt32(truncatingIfNeeded: n)))
  }

  /// Draw `n` as a uniform `Double` in [0, 1).
  @inlinable
  public func uniform(_ n: Int) -> Double { CounterRandom.uniform01(bits(n)) }

  /// Draw `n` as a uniform `Double` in [lo, hi) (torch's `uniform_(lo, hi)`).
  @inlinable
  public func uniform(_ n: Int, _ lo: Double, _ hi: Double) -> Double {
    lo + (hi - lo) * uniform(n)
  }

  /// Draw `n` as a uniform integer in 0..<bound (torch's `randint(0, bound)`).
  @inlinable
  public func below(_ bound: Int, _ n: Int) -> Int { CounterRandom.below(bound, bits(n)) }
}
