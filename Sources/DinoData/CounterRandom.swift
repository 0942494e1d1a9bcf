/// The project's counter-based generator (IR/CONTRACT.md): every draw is a hash of its key, so
/// results do not depend on thread count, timing or where a run resumes.
///
///     splitmix64(z) = mix(z + 0x9E3779B97F4A7C15)
///     hash(k0, k1, k2, k3) = splitmix64(splitmix64(splitmix64(splitmix64(k0) ^ k1) ^ k2) ^ k3)
///
/// The data pipeline turns a hash into a `Double` with 53 random bits (`uniform01`), finer
/// than the kernels' 24-bit float draw because crop geometry multiplies it by image areas.
public enum CounterRandom {
  /// SplitMix64's finaliser applied to `z + golden gamma`.
  @inlinable
  public static func splitmix64(_ z: UInt64) -> UInt64 {
    var z = z &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// `dino_hash(k0, k1, k2, k3)` of IR/CONTRACT.md.
  @inlinable
  public static func hash(_ k0: UInt64, _ k1: UInt64, _ k2: UInt64, _ k3: UInt64) -> UInt64 {
    splitmix64(splitmix64(splitmix64(splitmix64(k0) ^ k1) ^ k2) ^ k3)
  }

  /// A uniform `Double` in [0, 1) from the top 53 bits of `h`.
  @inlinable
  public static func uniform01(_ h: UInt64) -> Double {
    Double(h >> 11) * 0x1p-53
  }

  /// A uniform integer in 0..<bound (bound ≥ 1) from `h` (multiply-high; bias < bound/2^64).
  @inlinable
  public static func below(_ bound: Int, _ h: UInt64) -> Int {
    precondition(bound >= 1, "bound must be positive")
    return Int(h.multipliedFullWidth(by: UInt64(bound)).high)
  }
}

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
