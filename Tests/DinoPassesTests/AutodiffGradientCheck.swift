import DinoIR
import DinoPasses
import XCTest

/// Builds a program with random leaves; records the feeds for the evaluator.
struct GradientCheckBuilder {
  var program = Program(name: "train_step")
  var feeds: [String: AutodiffEvaluator.Tensor] = [:]
  private var state: UInt64
  private var count = 0

  init(seed: UInt64) { state = seed }

  /// A uniform double in [lo, hi) from splitmix64.
  mutating func uniform(_ lo: Double = -1, _ hi: Double = 1) -> Double {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    return lo + (hi - lo) * Double(z >> 11) / Double(1 << 53)
  }

  mutating func random(_ shape: [Int], _ lo: Double, _ hi: Double) -> AutodiffEvaluator.Tensor {
    AutodiffEvaluator.Tensor(shape, (0..<shape.reduce(1, *)).map { _ in uniform(lo, hi) })
  }

  mutating func node(
    _ op: OpKind, _ operands: [ValueID], _ attrs: Attributes = [:], declared: TensorType? = nil
  ) throws -> ValueID {
    let type = try op.resultType(operands.map { program[$0].type }, attrs, declared: declared)
    count += 1
    return program.append(
      Node(
        op, operands, attrs: attrs, type: type,
        loc: SourceLoc(file: "case.swift", line: count, column: 1)))
  }

  /// A parameter named `name` (default `student.p<k>`) with random values in [lo, hi).
  mutating func parameter(
    _ shape: [Int], _ lo: Double = -1, _ hi: Double = 1, name: String? = nil,
    trainable: Bool = true
  ) throws -> ValueID {
    let name = name ?? "student.p\(feeds.count)"
    feeds[name] = random(shape, lo, hi)
    return try node(
      .parameter, [],
      ["name": .string(name), "init": .string("zeros"), "trainable": .int(trainable ? 1 : 0)],
      declared: TensorType(.f32, shape))
  }

  /// A program input with random values in [lo, hi).
  mutating func input(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1) throws -> ValueID {
    let name = "in\(feeds.count)"
    feeds[name] = random(shape, lo, hi)
    return try node(.input, [], ["name": .string(name)], declared: TensorType(.f32, shape))
  }

  /// A `constant` node with random data in [lo, hi) (exactly representable in f32).
  mutating func constant(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1) throws -> ValueID {
    let data = random(shape, lo, hi).data.map { Float($0) }
    return try node(.constant, [], ["data": .floats(data)], declared: TensorType(.f32, shape))
  }

  mutating func matmul(_ a: ValueID, _ b: ValueID, _ ta: Bool = false, _ tb: Bool = false) throws
    -> ValueID
  {
    try node(.matmul, [a, b], ["trans_a": .int(ta ? 1 : 0), "trans_b": .int(tb ? 1 : 0)])
  }

  mutating func reshape(_ x: ValueID, _ shape: [Int]) throws -> ValueID {
    try node(.reshape, [x], ["shape": .ints(shape)])
  }

  mutating func permute(_ x: ValueID, _ perm: [Int]) throws -> ValueID {
    try node(.permute, [x], ["perm": .ints(perm)])
  }

  mutating func reduce(_ op: OpKind, _ x: ValueID, axis: Int, keepdims: Bool = false) throws
    -> ValueID
  {
    try node(op, [x], ["axis": .int(axis), "keepdims": .int(keepdims ? 1 : 0)])
  }

  /// Σ(y ⊙ R) for a fixed random R: a scalar loss that weighs every element differently.
  mutating func weightedSum(_ y: ValueID) throws -> ValueID {
    var v = try node(.mul, [y, constant(program[y].type.shape)])
    while !program[v].type.shape.isEmpty { v = try reduce(.reduceSum, v, axis: 0) }
    return v
  }
}

/// Agreement of one parameter's gradient with finite differences.
struct Agreement {
  /// The parameter's buffer name.
  let parameter: String
  /// ‖analytic − numeric‖ / ‖numeric‖ (the absolute error when the gradient is zero).
  let relativeError: Double
  /// cos(analytic, numeric).
  let cosine: Double
}

/// The finite-difference comparison shared by the gradient-check tests.
extension XCTestCase {
  /// Differentiates `loss`, verifies the result, and compares every student parameter's
  /// gradient with central differences (at most `samples` elements per parameter).
  func agreements(
    _ builder: GradientCheckBuilder, loss: ValueID, samples: Int = .max,
    file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> [Agreement] {
    var forward = builder.program
    forward.outputs = [ProgramOutput(name: "loss", value: loss)]
    let graph = try differentiate(Graph(programs: [forward]))
    try Verifier.verify(graph)
    let program = graph.programs[0]
    let values = try AutodiffEvaluator.run(program, feeds: builder.feeds)
    let gradients = Dictionary(uniqueKeysWithValues: program.outputs.map { ($0.name, $0.value) })

    func lossValue(_ feeds: [String: AutodiffEvaluator.Tensor]) throws -> Double {
      try AutodiffEvaluator.run(forward, feeds: feeds)[loss.index].data[0]
    }
    var result: [Agreement] = []
    let students = builder.program.nodes.filter {
      $0.op == .parameter && $0.attrs.string("name").hasPrefix("student.")
        && $0.attrs.int("trainable") != 0
    }.map { $0.attrs.string("name") }
    for name in Set(students).sorted() {
      guard let gradient = gradients["grad." + name] else {
        XCTFail("no gradient for \(name)", file: file, line: line)
        continue
      }
      let analytic = values[gradient.index].data
      let base = builder.feeds[name]!
      var picker = GradientCheckBuilder(seed: UInt64(base.data.count))
      let indices =
        base.data.count <= samples
        ? Array(base.data.indices)
        : (0..<samples).map { _ in Int(picker.uniform(0, Double(base.data.count))) }
      var numeric: [Double] = []
      let h = 1e-3
      for i in indices {
        func at(_ step: Double) throws -> Double {
          var feeds = builder.feeds
          feeds[name]!.data[i] += step
          return try lossValue(feeds)
        }
        let difference = try -at(2 * h) + 8 * at(h) - 8 * at(-h) + at(-2 * h)
        numeric.append(difference / (12 * h))
      }
      let picked = indices.map { analytic[$0] }
      let errorNorm = zip(picked, numeric).map { ($0 - $1) * ($0 - $1) }.reduce(0, +).squareRoot()
      let numericNorm = numeric.map { $0 * $0 }.reduce(0, +).squareRoot()
      let analyticNorm = picked.map { $0 * $0 }.reduce(0, +).squareRoot()
      let dot = zip(picked, numeric).map(*).reduce(0, +)
      if numericNorm < 1e-9 {
        // A gradient that vanishes identically (x − x, x / x): the analytic one must too.
        result.append(
          Agreement(parameter: name, relativeError: errorNorm, cosine: analyticNorm < 1e-12 ? 1 : 0)
        )
      } else {
        result.append(
          Agreement(
            parameter: name, relativeError: errorNorm / numericNorm,
            cosine: dot / max(numericNorm * analyticNorm, 1e-300)))
      }
    }
    return result
  }

  /// Asserts agreement within rel < 1e-6 and cos > 0.999999 (for a gradient that is zero
  /// everywhere, an analytic norm below 1e-12); returns the worst figures.
  @discardableResult
  func check(
    _ name: String, _ builder: GradientCheckBuilder, loss: ValueID, samples: Int = .max,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> (relativeError: Double, cosine: Double) {
    var worst = (relativeError: 0.0, cosine: 1.0)
    for agreement in try agreements(builder, loss: loss, samples: samples, file: file, line: line) {
      XCTAssertLessThan(
        agreement.relativeError, 1e-6, "\(name) \(agreement.parameter)", file: file, line: line)
      XCTAssertGreaterThan(
        agreement.cosine, 0.999_999, "\(name) \(agreement.parameter)", file: file, line: line)
      worst.relativeError = max(worst.relativeError, agreement.relativeError)
      worst.cosine = min(worst.cosine, agreement.cosine)
    }
    return worst
  }
}
