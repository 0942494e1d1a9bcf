import DinoIR
import Foundation

/// A Double-precision evaluator of forward programs, written from `IR/OPS.md` with naive loops
/// (test code, independent of the C kernels): enough to run the programs DINO's samples emit
/// on the official reference weights.
struct ForwardEvaluator {
  /// A row-major tensor.
  struct Value {
    var shape: [Int]
    var data: [Double]
  }

  /// An op the evaluator does not know, or a missing feed.
  struct Failure: Error, CustomStringConvertible {
    var description: String
  }

  /// The value of every node, by index.
  private(set) var values: [Value] = []
  /// What each `assign` wrote, by buffer name.
  private(set) var assigned: [String: Value] = [:]

  /// Runs `program`, reading `input` and `parameter` leaves from `feeds` by name (an `i32`
  /// seed is fed as a Double holding the integer).
  init(_ program: Program, feeds: [String: Value]) throws {
    for node in program.nodes {
      let x = node.operands.map { values[$0.index] }
      let y = try Self.evaluate(node, x, feeds)
      guard y.shape == node.type.shape, y.data.count == y.shape.reduce(1, *) else {
        throw Failure(description: "\(node.op.name) made \(y.shape), typed \(node.type)")
      }
      if node.op == .assign, let name = program[node.operands[0]].bufferName {
        assigned[name] = x[1]
      }
      values.append(y)
    }
  }

  /// The value of output `name` of `program`.
  func output(_ name: String, of program: Program) -> Value? {
    program.outputs.first { $0.name == name }.map { values[$0.value.index] }
  }

  private static func evaluate(_ node: Node, _ x: [Value], _ feeds: [String: Value]) throws
    -> Value
  {
    let shape = node.type.shape
    let a = node.attrs
    func map(_ f: (Double) -> Double) -> Value { Value(shape: shape, data: x[0].data.map(f)) }
    switch node.op {
    case .input, .parameter:
      guard let fed = feeds[a.string("name")] else {
        throw Failure(description: "no feed for '\(a.string("name"))'")
      }
      return fed
    case .constant: return Value(shape: shape, data: a.floats("data").map(Double.init))
    case .matmul: return matmul(x[0], x[1], a.int("trans_a") != 0, a.int("trans_b") != 0, shape)
    case .linear:
      let w = x[1]
      let inDim = w.shape[1]
      let outDim = w.shape[0]
      let rows = x[0].data.count / inDim
      var y = [Double](repeating: 0, count: rows * outDim)
      for r in 0..<rows {
        for o in 0..<outDim {
          var s = x[2].data[o]
          for i in 0..<inDim { s += x[0].data[r * inDim + i] * w.data[o * inDim + i] }
          y[r * outDim + o] = s
        }
      }
      return Value(shape: shape, data: y)
    case .patchEmbed: return patchEmbed(x[0], x[1], x[2], a.int("patch"), shape)
    case .add: return zip2(x[0], x[1], +)
    case .sub: return zip2(x[0], x[1], -)
    case .mul: return zip2(x[0], x[1], *)
    case .div: return zip2(x[0], x[1], /)
    case .scale: return map { $0 * a.float("factor") }
    case .gelu: return map { 0.5 * $0 * (1 + erf($0 / 2.0.squareRoot())) }
    case .layerNorm:
      let d = shape.last!
      let eps = a.float("eps")
      return rows(x[0], d) { row in
        let mean = row.reduce(0, +) / Double(d)
        let variance = row.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(d)
        let r = 1 / (variance + eps).squareRoot()
        return row.indices.map { (row[$0] - mean) * r * x[1].data[$0] + x[2].data[$0] }
      }
    case .l2Normalize:
      let eps = a.float("eps")
      return rows(x[0], shape.last!) { row in
        let n = max(row.reduce(0) { $0 + $1 * $1 }.squareRoot(), eps)
        return row.map { $0 / n }
      }
    case .weightNorm:
      let c = x[0].shape[1]
      var k = -1
      return rows(x[0], c) { row in
        k += 1
        let n = row.reduce(0) { $0 + $1 * $1 }.squareRoot()
        return row.map { x[1].data[k] * $0 / n }
      }
    case .softmax, .logSoftmax:
      let log = node.op == .logSoftmax
      return rows(x[0], shape.last!) { row in
        let m = row.max()!
        let z = row.reduce(0) { $0 + exp($1 - m) }
        return row.map { log ? $0 - m - Foundation.log(z) : exp($0 - m) / z }
      }
    case .reshape: return Value(shape: shape, data: x[0].data)
    case .permute: return permute(x[0], a.ints("perm"), shape)
    case .concat: return concat(x, a.int("axis"), shape)
    case .slice:
      return sliced(x[0], a.int("axis"), a.int("start")..<a.int("end"), shape)
    case .broadcastTo:
      return zip2(
        Value(shape: shape, data: [Double](repeating: 0, count: shape.reduce(1, *))), x[0], +)
    case .reduceSum, .reduceMean:
      let axis = a.int("axis")
      let s = x[0].shape
      let outer = s[..<axis].reduce(1, *)
      let n = s[axis]
      let inner = s[(axis + 1)...].reduce(1, *)
      var y = [Double](repeating: 0, count: outer * inner)
      for o in 0..<outer {
        for i in 0..<n {
          for j in 0..<inner { y[o * inner + j] += x[0].data[(o * n + i) * inner + j] }
        }
      }
      if node.op == .reduceMean { y = y.map { $0 / Double(n) } }
      return Value(shape: shape, data: y)
    case .dropPathMask:
      let rate = a.float("rate")
      let stream = UInt64(a.int("stream"))
      let seed = UInt64(UInt32(truncatingIfNeeded: Int32(x[0].data[0])))
      let data = (0..<a.int("batch")).map { i -> Double in
        let h = dinoHash(seed, stream, UInt64(i), 0)
        let u = Double(h >> 40) * 0x1p-24
        return u < 1 - rate ? 1 / (1 - rate) : 0
      }
      return Value(shape: shape, data: data)
    case .assign: return Value(shape: [], data: [0])
    default:
      throw Failure(description: "the evaluator does not run \(node.op.name)")
    }
  }

  /// COMMON.md's counter-based hash.
  static func dinoHash(_ k0: UInt64, _ k1: UInt64, _ k2: UInt64, _ k3: UInt64) -> UInt64 {
    func mix(_ x: UInt64) -> UInt64 {
      var z = x &+ 0x9E37_79B9_7F4A_7C15
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    return mix(mix(mix(mix(k0) ^ k1) ^ k2) ^ k3)
  }

  /// `f` applied to each row of the last axis.
  private static func rows(_ x: Value, _ d: Int, _ f: ([Double]) -> [Double]) -> Value {
    var out: [Double] = []
    out.reserveCapacity(x.data.count)
    for r in stride(from: 0, to: x.data.count, by: d) { out += f(Array(x.data[r..<(r + d)])) }
    return Value(shape: x.shape, data: out)
  }

  /// `a op broadcast(b)`: b right-aligned, each dim equal or 1.
  private static func zip2(_ a: Value, _ b: Value, _ op: (Double, Double) -> Double) -> Value {
    let rank = a.shape.count
    let bShape = [Int](repeating: 1, count: rank - b.shape.count) + b.shape
    var out = [Double](repeating: 0, count: a.data.count)
    var index = [Int](repeating: 0, count: rank)
    for i in 0..<a.data.count {
      var rem = i
      for d in stride(from: rank - 1, through: 0, by: -1) {
        index[d] = rem % a.shape[d]
        rem /= a.shape[d]
      }
      var j = 0
      for d in 0..<rank { j = j * bShape[d] + (bShape[d] == 1 ? 0 : index[d]) }
      out[i] = op(a.data[i], b.data[j])
    }
    return Value(shape: a.shape, data: out)
  }

  private static func matmul(_ a: Value, _ b: Value, _ ta: Bool, _ tb: Bool, _ shape: [Int])
    -> Value
  {
    let ra = a.shape.count
    let rb = b.shape.count
    let m = shape[shape.count - 2]
    let n = shape[shape.count - 1]
    let k = ta ? a.shape[ra - 2] : a.shape[ra - 1]
    let batches = shape.dropLast(2).reduce(1, *)
    let shared = rb == 2
    var out = [Double](repeating: 0, count: batches * m * n)
    for bt in 0..<batches {
      let ao = bt * m * k
      let bo = shared ? 0 : bt * k * n
      for i in 0..<m {
        for j in 0..<n {
          var s = 0.0
          for p in 0..<k {
            let av = a.data[ao + (ta ? p * m + i : i * k + p)]
            let bv = b.data[bo + (tb ? j * k + p : p * n + j)]
            s += av * bv
          }
          out[(bt * m + i) * n + j] = s
        }
      }
    }
    return Value(shape: shape, data: out)
  }

  private static func patchEmbed(_ x: Value, _ w: Value, _ bias: Value, _ p: Int, _ shape: [Int])
    -> Value
  {
    let (bs, c, h, wd) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
    let d = w.shape[0]
    let gw = wd / p
    let n = (h / p) * gw
    var out = [Double](repeating: 0, count: bs * n * d)
    for b in 0..<bs {
      for t in 0..<n {
        let r = t / gw
        let s = t % gw
        for o in 0..<d {
          var sum = bias.data[o]
          for ch in 0..<c {
            for i in 0..<p {
              for j in 0..<p {
                sum +=
                  w.data[((o * c + ch) * p + i) * p + j]
                  * x.data[((b * c + ch) * h + p * r + i) * wd + p * s + j]
              }
            }
          }
          out[(b * n + t) * d + o] = sum
        }
      }
    }
    return Value(shape: shape, data: out)
  }

  private static func permute(_ x: Value, _ perm: [Int], _ shape: [Int]) -> Value {
    let rank = shape.count
    var strides = [Int](repeating: 1, count: rank)
    for d in stride(from: rank - 2, through: 0, by: -1) {
      strides[d] = strides[d + 1] * x.shape[d + 1]
    }
    var out = [Double](repeating: 0, count: x.data.count)
    for i in 0..<out.count {
      var rem = i
      var src = 0
      for d in stride(from: rank - 1, through: 0, by: -1) {
        src += (rem % shape[d]) * strides[perm[d]]
        rem /= shape[d]
      }
      out[i] = x.data[src]
    }
    return Value(shape: shape, data: out)
  }

  private static func concat(_ xs: [Value], _ axis: Int, _ shape: [Int]) -> Value {
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    var out: [Double] = []
    for o in 0..<outer {
      for x in xs {
        let chunk = x.shape[axis] * inner
        out += x.data[(o * chunk)..<((o + 1) * chunk)]
      }
    }
    return Value(shape: shape, data: out)
  }

  private static func sliced(_ x: Value, _ axis: Int, _ range: Range<Int>, _ shape: [Int])
    -> Value
  {
    let outer = x.shape[..<axis].reduce(1, *)
    let inner = x.shape[(axis + 1)...].reduce(1, *)
    let n = x.shape[axis]
    var out: [Double] = []
    for o in 0..<outer {
      out += x.data[((o * n + range.lowerBound) * inner)..<((o * n + range.upperBound) * inner)]
    }
    return Value(shape: shape, data: out)
  }
}
