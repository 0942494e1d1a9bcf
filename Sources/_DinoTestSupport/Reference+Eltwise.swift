import DinoIR
import Foundation

extension ReferenceInterpreter {
  /// `f` applied to every element.
  public static func map(_ x: ReferenceTensor, _ f: (Double) -> Double) -> ReferenceTensor {
    ReferenceTensor(shape: x.shape, data: x.data.map(f))
  }

  /// The flat index in a tensor of shape `small` that element `flat` of a tensor of shape
  /// `big` reads under right-aligned broadcasting (size-1 and missing leading dims repeat).
  public static func broadcastSource(_ flat: Int, _ big: [Int], _ small: [Int]) -> Int {
    var rest = flat
    var source = 0
    var step = 1
    let offset = big.count - small.count
    for d in stride(from: small.count - 1, through: 0, by: -1) {
      let coordinate = rest % big[d + offset]
      rest /= big[d + offset]
      if small[d] != 1 { source += coordinate * step }
      step *= small[d]
    }
    return source
  }

  /// `f(a, broadcast(b))`, with `a`'s shape: the rule of add, sub, mul and div.
  public static func broadcastBinary(
    _ a: ReferenceTensor, _ b: ReferenceTensor, _ f: (Double, Double) -> Double
  ) -> ReferenceTensor {
    ReferenceTensor(shape: a.shape) { i in
      f(a.data[i], b.data[broadcastSource(i, a.shape, b.shape)])
    }
  }

  /// The exact GELU, 0.5·x·(1 + erf(x/√2)).
  public static func gelu(_ x: Double) -> Double {
    0.5 * x * (1 + erf(x / 2.0.squareRoot()))
  }

  /// `gelu_bwd(dy, x)` = dy · (Φ(x) + x·φ(x)).
  public static func geluBwd(_ dy: ReferenceTensor, _ x: ReferenceTensor) -> ReferenceTensor {
    ReferenceTensor(shape: x.shape) { i in
      let v = x.data[i]
      let cdf = 0.5 * (1 + erf(v / 2.0.squareRoot()))
      let pdf = exp(-0.5 * v * v) / (2 * Double.pi).squareRoot()
      return dy.data[i] * (cdf + v * pdf)
    }
  }
}
