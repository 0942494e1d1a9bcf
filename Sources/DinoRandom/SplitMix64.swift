/// SplitMix64 as a sequential stream: each `next()` adds the golden gamma to the state and
/// returns `CounterRandom.splitmix64` of the previous state, so draw `n` (from 0) of a
/// stream seeded with `s` is `CounterRandom.splitmix64(s + n·gamma)`.
///
/// For what needs a long run of numbers from one seed (shuffles, test data, fuzzing,
/// benchmark inputs); what must not depend on the order of draws uses `CounterRandom.hash`.
public struct SplitMix64: RandomNumberGenerator, Sendable {
  /// The generator's state: the seed plus gamma times the draws so far.
  public var state: UInt64

  /// A stream starting at `seed`.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  @inlinable
  public mutating func next() -> UInt64 {
    let value = CounterRandom.splitmix64(state)
    state &+= CounterRandom.gamma
    return value
  }
}
