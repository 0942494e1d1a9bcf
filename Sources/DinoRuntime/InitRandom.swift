import CDinoKernels
import Dispatch
import DinoPlan

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// The counter-based RNG of IR/CONTRACT.md and the samplers parameter initialisation uses.
///
/// Element `i` of buffer `name` under seed `s` draws from `dino_hash(s, fnv1a(name), i, 0)`,
/// so a buffer's initial values depend only on the seed, its name and its shape: not on
/// the order of buffers, the layout or the thread count.
package enum InitRandom {
  /// `dino_hash` of the kernels (IR/CONTRACT.md): one implementation of the generator.
  package static func hash(_ k0: UInt64, _ k1: UInt64, _ k2: UInt64, _ k3: UInt64) -> UInt64 {
    dino_hash(k0, k1, k2, k3)
  }

  /// 64-bit FNV-1a of the UTF-8 bytes: a buffer's stream key (the plan format's hash).
  package static func fnv1a(_ text: String) -> UInt64 { PlanFormat.fnv1a64(Array(text.utf8)) }

  /// A double strictly inside (0, 1) from the top 53 bits of `h`.
  static func open01(_ h: UInt64) -> Double { (Double(h >> 11) + 0.5) * 0x1p-53 }

  /// The standard normal CDF Φ.
  static func normalCDF(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }

  /// The standard normal quantile Φ⁻¹(p) for p in (0, 1): Acklam's rational approximation
  /// refined by one Halley step (about 1e-15 relative error).
  static func normalQuantile(_ p: Double) -> Double {
    func tail(_ q: Double) -> Double {
      (((((-7.784894002430293e-03 * q - 3.223964580411365e-01) * q - 2.400758277161838e+00) * q
        - 2.549732539343734e+00) * q + 4.374664141464968e+00) * q + 2.938163982698783e+00)
        / ((((7.784695709041462e-03 * q + 3.224671290700398e-01) * q + 2.445134137142996e+00) * q
          + 3.754408661907416e+00) * q + 1)
    }
    var x: Double
    if p < 0.02425 {
      x = tail((-2 * log(p)).squareRoot())
    } else if p <= 1 - 0.02425 {
      let q = p - 0.5
      let r = q * q
      x =
        (((((-3.969683028665376e+01 * r + 2.209460984245205e+02) * r - 2.759285104469687e+02) * r
          + 1.383577518672690e+02) * r - 3.066479806614716e+01) * r + 2.506628277459239e+00) * q
        / (((((-5.447609879822406e+01 * r + 1.615858368580409e+02) * r - 1.556989798598866e+02) * r
          + 6.680131188771972e+01) * r - 1.328068155288572e+01) * r + 1)
    } else {
      x = -tail((-2 * log1p(-p)).squareRoot())
    }
    let e = normalCDF(x) - p
    let u = e * (2 * Double.pi).squareRoot() * exp(x * x / 2)
    x -= u / (1 + x * u / 2)
    return x
  }

  /// Calls `body(i)` for every index of `out`, in parallel chunks (each element depends only
  /// on its index, so the result does not depend on the chunking).
  static func fill(_ out: UnsafeMutableBufferPointer<Float>, _ body: @Sendable (Int) -> Float) {
    let chunk = 1 << 16
    let chunks = (out.count + chunk - 1) / chunk
    if chunks <= 1 {
      for i in out.indices { out[i] = body(i) }
      return
    }
    // Chunks write disjoint ranges of `out`.
    nonisolated(unsafe) let target = out
    withoutActuallyEscaping(body) { body in
      DispatchQueue.concurrentPerform(iterations: chunks) { c in
        for i in (c * chunk)..<min(target.count, (c + 1) * chunk) { target[i] = body(i) }
      }
    }
  }

  /// Fills `out` with N(0, std²) restricted to [a, b] by inverse-CDF sampling (exact, no
  /// rejection): u uniform in (Φ(a/σ), Φ(b/σ)), x = σ·Φ⁻¹(u), clamped against rounding.
  static func fillTruncatedNormal(
    _ out: UnsafeMutableBufferPointer<Float>, std: Double, a: Double, b: Double, seed: UInt64,
    stream: UInt64
  ) {
    guard std > 0 else {
      let v = Float(min(max(0, a), b))
      for i in out.indices { out[i] = v }
      return
    }
    // Sample the side nearer the mean for precision when both bounds are positive.
    let flip = a > 0
    let (lo, hi) = flip ? (-b, -a) : (a, b)
    let pa = normalCDF(lo / std)
    let pb = normalCDF(hi / std)
    fill(out) { i in
      let u = open01(hash(seed, stream, UInt64(i), 0))
      let p = min(max(pa + (pb - pa) * u, Double.leastNonzeroMagnitude), 1 - 0x1p-53)
      let x = min(max(std * normalQuantile(p), lo), hi)
      return Float(flip ? -x : x)
    }
  }

  /// Fills `out` with N(0, std²).
  static func fillNormal(
    _ out: UnsafeMutableBufferPointer<Float>, std: Double, seed: UInt64, stream: UInt64
  ) {
    fill(out) { i in Float(std * normalQuantile(open01(hash(seed, stream, UInt64(i), 0)))) }
  }

  /// Fills `out` uniformly from [lo, hi].
  static func fillUniform(
    _ out: UnsafeMutableBufferPointer<Float>, lo: Double, hi: Double, seed: UInt64, stream: UInt64
  ) {
    fill(out) { i in
      let u = open01(hash(seed, stream, UInt64(i), 0))
      return Float(min(max(lo + (hi - lo) * u, lo), hi))
    }
  }
}
