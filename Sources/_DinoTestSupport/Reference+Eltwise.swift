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

extension ReferenceInterpreter {
  /// `eltwise_chain(x…) {program}`: the steps in Double at every element of x₀'s shape,
  /// each operand broadcast to it.
  public static func eltwiseChain(
    _ x: [ReferenceTensor], _ attrs: Attributes
  ) throws -> ReferenceTensor {
    let program = try EltwiseProgram(encoded: attrs.ints("program"), operandCount: x.count)
    let shape = x[0].shape
    return ReferenceTensor(shape: shape) { i in
      var values: [Double] = []
      func read(_ r: EltwiseProgram.Ref) -> Double {
        switch r {
        case .operand(let k): return x[k].data[broadcastSource(i, shape, x[k].shape)]
        case .step(let k): return values[k]
        }
      }
      for step in program.steps {
        let a = read(step.a)
        let b = step.b.map(read) ?? attrs.float(EltwiseProgram.factorNames[step.factor])
        values.append(chainStep(step.op, a, b))
      }
      return values.last!
    }
  }

  /// One step of an `eltwise_chain` program in Double (b: a scale's factor).
  static func chainStep(_ op: OpKind, _ a: Double, _ b: Double) -> Double {
    switch op {
    case .add: return a + b
    case .sub: return a - b
    case .mul: return a * b
    case .div: return a / b
    case .gelu: return gelu(a)
    case .geluBwd:
      let cdf = 0.5 * (1 + erf(b / 2.0.squareRoot()))
      return a * (cdf + b * Foundation.exp(-0.5 * b * b) / (2 * Double.pi).squareRoot())
    case .scale: return a * b
    case .log: return Foundation.log(a)
    default: return Foundation.exp(a)
    }
  }
}
