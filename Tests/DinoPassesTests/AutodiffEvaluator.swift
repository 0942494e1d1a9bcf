import DinoIR
import Foundation

/// A Double-precision evaluator of the ops the gradient checks use: every differentiable
/// op, every op their VJPs emit, and the leaves. It follows `IR/OPS.md` line by line with
/// naive loops; it is test code, independent of the C kernels.
enum AutodiffEvaluator {
  /// A row-major Double tensor.
  struct Tensor {
    var shape: [Int]
    var data: [Double]
    init(_ shape: [Int], _ data: [Double]) {
      precondition(shape.reduce(1, *) == data.count, "\(shape) holds \(data.count) values")
      self.shape = shape
      self.data = data
    }
    static func zeros(_ shape: [Int]) -> Tensor {
      Tensor(shape, [Double](repeating: 0, count: shape.reduce(1, *)))
    }
  }

  /// Evaluation failures (an op the evaluator does not know, a missing feed).
  struct Failure: Error, CustomStringConvertible {
    let description: String
  }

  /// Runs `program`, reading `input` and `parameter` leaves from `feeds` by name.
  /// - Returns: the value of every node.
  static func run(_ program: Program, feeds: [String: Tensor]) throws -> [Tensor] {
    var values: [Tensor] = []
    values.reserveCapacity(program.nodes.count)
    for node in program.nodes {
      let x = node.operands.map { values[$0.index] }
      let y = try evaluate(node, x, feeds)
      guard y.shape == node.type.shape else {
        throw Failure(description: "\(node.op) made \(y.shape), typed \(node.type)")
      }
      values.append(y)
    }
    return values
  }

  private static func evaluate(
    _ node: Node, _ x: [Tensor], _ feeds: [String: Tensor]
  ) throws -> Tensor {
    let shape = node.type.shape
    let a = node.attrs
    switch node.op {
    case .input, .parameter:
      guard let fed = feeds[a.string("name")] else {
        throw Failure(description: "no feed for '\(a.string("name"))'")
      }
      return fed
    case .constant: return Tensor(shape, a.floats("data").map(Double.init))
    case .matmul:
      return matmul(x[0], x[1], a.int("trans_a") != 0, a.int("trans_b") != 0, shape)
    case .linear: return linear(x[0], x[1], x[2])
    case .patchify: return patchify(x[0], a.int("patch"))
    case .patchEmbed:
      let w = Tensor([x[1].shape[0], x[1].data.count / x[1].shape[0]], x[1].data)
      let y = linear(patchify(x[0], a.int("patch")), w, x[2])
      return Tensor(shape, y.data)
    case .add: return zip2(x[0], x[1], +)
    case .sub: return zip2(x[0], x[1], -)
    case .mul: return zip2(x[0], x[1], *)
    case .div: return zip2(x[0], x[1], /)
    case .scale: return Tensor(shape, x[0].data.map { $0 * a.float("factor") })
    case .gelu: return Tensor(shape, x[0].data.map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) })
    case .geluBwd:
      return Tensor(
        shape,
        zip(x[0].data, x[1].data).map { dy, v in
          dy
            * (0.5 * (1 + erf(v / 2.0.squareRoot())) + v * exp(-v * v / 2)
              / (2 * Double.pi).squareRoot())
        })
    case .layerNorm, .layerNormBwd, .layerNormBwdGamma:
      return layerNorm(node.op, x, a.float("eps"), shape)
    case .l2Normalize, .l2NormalizeBwd: return l2Normalize(node.op, x, a.float("eps"))
    case .weightNorm, .weightNormBwdV, .weightNormBwdG: return weightNorm(node.op, x, shape)
    case .softmax, .logSoftmax, .softmaxBwd, .logSoftmaxBwd: return softmax(node.op, x)
    case .reshape: return Tensor(shape, x[0].data)
    case .permute: return permute(x[0], a.ints("perm"), shape)
    case .concat: return concat(x, a.int("axis"), shape)
    case .slice:
      return window(x[0], a.int("axis"), from: a.int("start"), shape, padded: false)
    case .pad:
      return window(x[0], a.int("axis"), from: a.int("before"), shape, padded: true)
    case .broadcastTo:
      return Tensor(
        shape,
        (0..<shape.reduce(1, *)).map {
          x[0].data[broadcastIndex($0, shape, x[0].shape)]
        })
    case .sumTo:
      var y = Tensor.zeros(shape)
      for i in x[0].data.indices { y.data[broadcastIndex(i, x[0].shape, shape)] += x[0].data[i] }
      return y
    case .reduceSum, .reduceMean:
      let axis = a.int("axis")
      let s = x[0].shape
      let outer = s[..<axis].reduce(1, *)
      let n = s[axis]
      let inner = s[(axis + 1)...].reduce(1, *)
      var y = Tensor.zeros(shape)
      for o in 0..<outer {
        for k in 0..<n {
          for i in 0..<inner { y.data[o * inner + i] += x[0].data[(o * n + k) * inner + i] }
        }
      }
      if node.op == .reduceMean { y.data = y.data.map { $0 / Double(n) } }
      return y
    case .dropPathMask, .clipGradCoef, .adamwUpdate, .emaUpdate, .assign:
      throw Failure(description: "the gradient-check evaluator does not run \(node.op)")
    }
  }

  /// The flat index into `small` of element `i` of `big` under right-aligned broadcasting.
  static func broadcastIndex(_ i: Int, _ big: [Int], _ small: [Int]) -> Int {
    var rest = i
    var index = 0
    var step = 1
    for d in stride(from: big.count - 1, through: 0, by: -1) {
      let coordinate = rest % big[d]
      rest /= big[d]
      let sd = d - (big.count - small.count)
      guard sd >= 0 else { break }
      if small[sd] != 1 { index += coordinate * step }
      step *= small[sd]
    }
    return index
  }

  private static func zip2(_ a: Tensor, _ b: Tensor, _ f: (Double, Double) -> Double) -> Tensor {
    Tensor(
      a.shape, a.data.indices.map { f(a.data[$0], b.data[broadcastIndex($0, a.shape, b.shape)]) })
  }

  private static func matmul(_ a: Tensor, _ b: Tensor, _ ta: Bool, _ tb: Bool, _ shape: [Int])
    -> Tensor
  {
    let r = a.shape.count
    let m = shape[shape.count - 2]
    let n = shape[shape.count - 1]
    let k = ta ? a.shape[r - 2] : a.shape[r - 1]
    let batches = shape.dropLast(2).reduce(1, *)
    let shared = b.shape.count == 2
    var y = Tensor.zeros(shape)
    for batch in 0..<batches {
      let ao = batch * m * k
      let bo = shared ? 0 : batch * k * n
      let yo = batch * m * n
      for i in 0..<m {
        for j in 0..<n {
          var sum = 0.0
          for l in 0..<k {
            sum +=
              a.data[ao + (ta ? l * m + i : i * k + l)] * b.data[bo + (tb ? j * k + l : l * n + j)]
          }
          y.data[yo + i * n + j] = sum
        }
      }
    }
    return y
  }

  private static func linear(_ x: Tensor, _ w: Tensor, _ b: Tensor) -> Tensor {
    let inDim = w.shape[1]
    let outDim = w.shape[0]
    let rows = x.data.count / inDim
    var y = Tensor.zeros(Array(x.shape.dropLast()) + [outDim])
    for r in 0..<rows {
      for o in 0..<outDim {
        var sum = b.data[o]
        for i in 0..<inDim { sum += x.data[r * inDim + i] * w.data[o * inDim + i] }
        y.data[r * outDim + o] = sum
      }
    }
    return y
  }

  private static func patchify(_ x: Tensor, _ p: Int) -> Tensor {
    let (bs, c, h, w) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let gw = w / p
    let tokens = (h / p) * gw
    let width = c * p * p
    var y = Tensor.zeros([bs, tokens, width])
    for b in 0..<bs {
      for t in 0..<tokens {
        for ch in 0..<c {
          for i in 0..<p {
            for j in 0..<p {
              let source = ((b * c + ch) * h + p * (t / gw) + i) * w + p * (t % gw) + j
              y.data[(b * tokens + t) * width + (ch * p + i) * p + j] = x.data[source]
            }
          }
        }
      }
    }
    return y
  }

  private static func layerNorm(_ op: OpKind, _ x: [Tensor], _ eps: Double, _ shape: [Int])
    -> Tensor
  {
    let input = op == .layerNorm ? x[0] : x[1]
    let d = input.shape.last!
    let rows = input.data.count / d
    var y = Tensor.zeros(shape)
    for r in 0..<rows {
      let row = Array(input.data[(r * d)..<(r * d + d)])
      let mean = row.reduce(0, +) / Double(d)
      let variance = row.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(d)
      let rstd = 1 / (variance + eps).squareRoot()
      let xhat = row.map { ($0 - mean) * rstd }
      switch op {
      case .layerNorm:
        for i in 0..<d { y.data[r * d + i] = xhat[i] * x[1].data[i] + x[2].data[i] }
      case .layerNormBwd:
        let g = (0..<d).map { x[0].data[r * d + $0] * x[2].data[$0] }
        let meanG = g.reduce(0, +) / Double(d)
        let meanGX = zip(g, xhat).map(*).reduce(0, +) / Double(d)
        for i in 0..<d { y.data[r * d + i] = rstd * (g[i] - meanG - xhat[i] * meanGX) }
      default:
        for i in 0..<d { y.data[i] += x[0].data[r * d + i] * xhat[i] }
      }
    }
    return y
  }

  private static func l2Normalize(_ op: OpKind, _ x: [Tensor], _ eps: Double) -> Tensor {
    let input = op == .l2Normalize ? x[0] : x[1]
    let d = input.shape.last!
    let rows = input.data.count / d
    var y = Tensor.zeros(input.shape)
    for r in 0..<rows {
      let range = (r * d)..<(r * d + d)
      let norm = input.data[range].map { $0 * $0 }.reduce(0, +).squareRoot()
      if op == .l2Normalize {
        for i in range { y.data[i] = input.data[i] / max(norm, eps) }
      } else if norm > eps {
        let dot = range.map { x[0].data[$0] * input.data[$0] / norm }.reduce(0, +)
        for i in range { y.data[i] = (x[0].data[i] - input.data[i] / norm * dot) / norm }
      } else {
        for i in range { y.data[i] = x[0].data[i] / eps }
      }
    }
    return y
  }

  private static func weightNorm(_ op: OpKind, _ x: [Tensor], _ shape: [Int]) -> Tensor {
    let v = op == .weightNorm ? x[0] : x[1]
    let (k, c) = (v.shape[0], v.shape[1])
    var y = Tensor.zeros(shape)
    for row in 0..<k {
      let range = (row * c)..<(row * c + c)
      let norm = v.data[range].map { $0 * $0 }.reduce(0, +).squareRoot()
      switch op {
      case .weightNorm:
        for i in range { y.data[i] = x[1].data[row] * v.data[i] / norm }
      case .weightNormBwdV:
        let dot = range.map { x[0].data[$0] * v.data[$0] / norm }.reduce(0, +)
        for i in range {
          y.data[i] = x[2].data[row] / norm * (x[0].data[i] - dot * v.data[i] / norm)
        }
      default:
        y.data[row] = range.map { x[0].data[$0] * v.data[$0] / norm }.reduce(0, +)
      }
    }
    return y
  }

  private static func softmax(_ op: OpKind, _ x: [Tensor]) -> Tensor {
    let d = x[0].shape.last!
    let rows = x[0].data.count / d
    var y = Tensor.zeros(x[0].shape)
    for r in 0..<rows {
      let range = (r * d)..<(r * d + d)
      switch op {
      case .softmax, .logSoftmax:
        let top = x[0].data[range].max()!
        let total = x[0].data[range].map { exp($0 - top) }.reduce(0, +)
        for i in range {
          y.data[i] =
            op == .softmax ? exp(x[0].data[i] - top) / total : x[0].data[i] - top - log(total)
        }
      case .softmaxBwd:
        let dot = range.map { x[0].data[$0] * x[1].data[$0] }.reduce(0, +)
        for i in range { y.data[i] = x[1].data[i] * (x[0].data[i] - dot) }
      default:
        let total = x[0].data[range].reduce(0, +)
        for i in range { y.data[i] = x[0].data[i] - exp(x[1].data[i]) * total }
      }
    }
    return y
  }

  private static func permute(_ x: Tensor, _ perm: [Int], _ shape: [Int]) -> Tensor {
    var inStrides = [Int](repeating: 1, count: x.shape.count)
    for d in stride(from: x.shape.count - 2, through: 0, by: -1) {
      inStrides[d] = inStrides[d + 1] * x.shape[d + 1]
    }
    var y = Tensor.zeros(shape)
    for i in y.data.indices {
      var rest = i
      var source = 0
      for k in stride(from: shape.count - 1, through: 0, by: -1) {
        source += (rest % shape[k]) * inStrides[perm[k]]
        rest /= shape[k]
      }
      y.data[i] = x.data[source]
    }
    return y
  }

  private static func concat(_ x: [Tensor], _ axis: Int, _ shape: [Int]) -> Tensor {
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    var data: [Double] = []
    for o in 0..<outer {
      for part in x {
        let chunk = part.shape[axis] * inner
        data += part.data[(o * chunk)..<(o * chunk + chunk)]
      }
    }
    return Tensor(shape, data)
  }

  /// `slice` (read a window of x) or `pad` (write x into a zero window) along `axis`.
  private static func window(
    _ x: Tensor, _ axis: Int, from start: Int, _ shape: [Int], padded: Bool
  ) -> Tensor {
    let big = padded ? shape : x.shape
    let small = padded ? x.shape : shape
    let outer = big[..<axis].reduce(1, *)
    let inner = big[(axis + 1)...].reduce(1, *)
    var y = Tensor.zeros(shape)
    for o in 0..<outer {
      for k in 0..<small[axis] {
        for i in 0..<inner {
          let bigIndex = (o * big[axis] + start + k) * inner + i
          let smallIndex = (o * small[axis] + k) * inner + i
          if padded {
            y.data[bigIndex] = x.data[smallIndex]
          } else {
            y.data[smallIndex] = x.data[bigIndex]
          }
        }
      }
    }
    return y
  }
}
