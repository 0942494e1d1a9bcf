import Foundation

/// The counter-based RNG every part of dino shares (IR/CONTRACT.md): kernels, the reference
/// interpreter, parameter init and the data pipeline draw from `dino_hash`.
public enum CounterRNG {
  /// One SplitMix64 step: the finaliser of `z + 0x9E3779B97F4A7C15`.
  public static func splitmix64(_ z: UInt64) -> UInt64 {
    var z = z &+ 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// `dino_hash(k0, k1, k2, k3)`: splitmix64 chained over the four keys.
  public static func hash(_ k0: UInt64, _ k1: UInt64, _ k2: UInt64, _ k3: UInt64) -> UInt64 {
    splitmix64(splitmix64(splitmix64(splitmix64(k0) ^ k1) ^ k2) ^ k3)
  }

  /// The top 24 bits of `h` as a float in [0, 1): `(h >> 40) · 2⁻²⁴`.
  public static func uniform01(_ h: UInt64) -> Double {
    Double(h >> 40) * 0x1p-24
  }
}

/// A seeded SplitMix64 stream for test data: the same seed gives the same numbers on
/// every machine and every run.
public struct SeededRNG: RandomNumberGenerator, Sendable {
  /// The generator's state.
  public var state: UInt64

  /// Creates a stream from a seed.
  public init(seed: UInt64) { state = seed }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 {
    let value = CounterRNG.splitmix64(state)
    state &+= 0x9E37_79B9_7F4A_7C15
    return value
  }

  /// A uniform double in [0, 1) with 53 random bits.
  public mutating func nextUniform() -> Double {
    Double(next() >> 11) * 0x1p-53
  }

  /// A standard normal draw (Box–Muller).
  public mutating func nextNormal() -> Double {
    let u1 = 1 - nextUniform()  // (0, 1]
    let u2 = nextUniform()
    return (-2 * log(u1)).squareRoot() * cos(2 * Double.pi * u2)
  }
}

extension ReferenceTensor {
  /// A tensor of independent uniform draws from `range`, reproducible from `seed`.
  public static func random(
    shape: [Int], seed: UInt64, in range: ClosedRange<Double> = -1...1
  ) -> ReferenceTensor {
    var rng = SeededRNG(seed: seed)
    return random(shape: shape, in: range, using: &rng)
  }

  /// A tensor of independent uniform draws from `range`, taken from `rng`.
  public static func random(
    shape: [Int], in range: ClosedRange<Double> = -1...1, using rng: inout SeededRNG
  ) -> ReferenceTensor {
    ReferenceTensor(shape: shape) { _ in
      range.lowerBound + (range.upperBound - range.lowerBound) * rng.nextUniform()
    }
  }

  /// A tensor of independent N(0, std²) draws, reproducible from `seed`.
  public static func randomNormal(shape: [Int], seed: UInt64, std: Double = 1) -> ReferenceTensor {
    var rng = SeededRNG(seed: seed)
    return ReferenceTensor(shape: shape) { _ in std * rng.nextNormal() }
  }
}
