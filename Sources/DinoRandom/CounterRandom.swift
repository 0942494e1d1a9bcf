/// The project's counter-based generator (IR/CONTRACT.md): every draw is a hash of its key, so
/// results do not depend on thread count, timing or where a run resumes.
///
///     splitmix64(z) = mix(z + 0x9E3779B97F4A7C15)
///     hash(k0, k1, k2, k3) = splitmix64(splitmix64(splitmix64(splitmix64(k0) ^ k1) ^ k2) ^ k3)
///
/// The data pipeline turns a hash into a `Double` with 53 random bits (`uniform01`), finer
/// than the kernels' 24-bit float draw because crop geometry multiplies it by image areas.
public enum CounterRandom {
  /// SplitMix64's increment, the golden gamma `0x9E3779B97F4A7C15`.
  public static let gamma: UInt64 = 0x9E37_79B9_7F4A_7C15

  /// SplitMix64's finaliser applied to `z + golden gamma`.
  @inlinable
  public static func splitmix64(_ z: UInt64) -> UInt64 {
    var z = z &+ gamma
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

  /// The kernels' draw (`dino_uniform01`): the top 24 bits of `h` as a value in [0, 1),
  /// `(h >> 40) · 2⁻²⁴`, widened to `Double` exactly.
  @inlinable
  public static func kernelUniform01(_ h: UInt64) -> Double {
    Double(h >> 40) * 0x1p-24
  }

  /// A uniform integer in 0..<bound (bound ≥ 1) from `h` (multiply-high; bias < bound/2^64).
  @inlinable
  public static func below(_ bound: Int, _ h: UInt64) -> Int {
    precondition(bound >= 1, "bound must be positive")
    return Int(h.multipliedFullWidth(by: UInt64(bound)).high)
  }
}
