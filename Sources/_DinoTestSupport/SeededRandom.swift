import DinoRandom
import Foundation

/// Test-data draws over DinoRandom's `SplitMix64` stream: the same seed gives the same
/// numbers on every machine and every run.
extension SplitMix64 {
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
    var rng = SplitMix64(seed: seed)
    return random(shape: shape, in: range, using: &rng)
  }

  /// A tensor of independent uniform draws from `range`, taken from `rng`.
  public static func random(
    shape: [Int], in range: ClosedRange<Double> = -1...1, using rng: inout SplitMix64
  ) -> ReferenceTensor {
    ReferenceTensor(shape: shape) { _ in
      range.lowerBound + (range.upperBound - range.lowerBound) * rng.nextUniform()
    }
  }

  /// A tensor of independent N(0, std²) draws, reproducible from `seed`.
  public static func randomNormal(shape: [Int], seed: UInt64, std: Double = 1) -> ReferenceTensor {
    var rng = SplitMix64(seed: seed)
    return ReferenceTensor(shape: shape) { _ in std * rng.nextNormal() }
  }
}
