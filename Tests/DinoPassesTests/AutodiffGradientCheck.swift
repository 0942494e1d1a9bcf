import DinoIR
import DinoPasses
import DinoRandom
import XCTest
import _DinoTestSupport

/// Builds a forward program with random leaves and records their values for the shared
/// reference interpreter: `parameter` leaves as buffers, `input` leaves as inputs. Each node
/// gets its own source line, so diagnostics can be told apart.
struct GradientCheckBuilder {
  var program = Program(name: "train_step")
  /// The value of every `input` leaf, by name.
  var inputs: [String: ReferenceTensor] = [:]
  /// The value of every `parameter` leaf, by buffer name.
  var buffers: [String: ReferenceTensor] = [:]
  private var rng: SplitMix64
  private var count = 0

  init(seed: UInt64) { rng = SplitMix64(seed: seed) }

  /// How many leaves have a recorded value (names the next anonymous one).
  private var leafCount: Int { inputs.count + buffers.count }

  /// Independent uniform draws in [lo, hi).
  mutating func random(_ shape: [Int], _ lo: Double, _ hi: Double) -> ReferenceTensor {
    ReferenceTensor.random(shape: shape, in: lo...hi, using: &rng)
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
    let name = name ?? "student.p\(leafCount)"
    buffers[name] = random(shape, lo, hi)
    return try node(
      .parameter, [],
      ["name": .string(name), "init": .string("zeros"), "trainable": .int(trainable ? 1 : 0)],
      declared: TensorType(.f32, shape))
  }

  /// A program input with random values in [lo, hi).
  mutating func input(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1) throws -> ValueID {
    let name = "in\(leafCount)"
    inputs[name] = random(shape, lo, hi)
    return try node(.input, [], ["name": .string(name)], declared: TensorType(.f32, shape))
  }

  /// A `constant` node with random data in [lo, hi) (exactly representable in f32).
  mutating func constant(_ shape: [Int], _ lo: Double = -1, _ hi: Double = 1) throws -> ValueID {
    let data = random(shape, lo, hi).floats
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

extension GradientCheckBuilder {
  /// The program with output `loss`, differentiated, verified and run once in
  /// `ReferenceInterpreter`: the forward program and the differentiated one's outputs.
  func differentiatedRun(loss: ValueID) throws -> (Program, [String: ReferenceTensor]) {
    var forward = program
    forward.outputs = [ProgramOutput(name: "loss", value: loss)]
    let graph = try differentiate(Graph(programs: [forward]))
    try Verifier.verify(graph)
    var buffers = self.buffers
    let outputs = try ReferenceInterpreter.run(
      graph.programs[0], inputs: inputs, buffers: &buffers)
    return (forward, outputs)
  }
}

/// Agreement of one parameter's gradient with finite differences.
struct Agreement {
  /// The parameter's buffer name.
  let parameter: String
  /// ‖analytic − numeric‖ / max(‖analytic‖, ‖numeric‖) (`GradientCheck.compare`); the
  /// absolute error ‖analytic − numeric‖ when the numeric gradient vanishes.
  let relativeError: Double
  /// cos(analytic, numeric); for a vanishing numeric gradient 1 iff ‖analytic‖ < 1e-12.
  let cosine: Double
}

/// The finite-difference comparison shared by the gradient-check tests.
extension XCTestCase {
  /// Differentiates `loss`, verifies the result, runs it in `ReferenceInterpreter`, and
  /// compares every trainable student parameter's `grad.<name>` output with
  /// `GradientCheck.numericGradient` of the forward program (4-point stencil, step 1e-3).
  func agreements(
    _ builder: GradientCheckBuilder, loss: ValueID,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> [Agreement] {
    let (forward, outputs) = try builder.differentiatedRun(loss: loss)
    let forwardLoss = try GradientCheck.scalarOutput(
      program: forward, output: "loss", inputs: builder.inputs, buffers: builder.buffers)
    XCTAssertEqual(
      outputs["loss"]?.scalar, forwardLoss, "differentiated loss", file: file, line: line)

    let students = Set(
      builder.program.nodes.filter {
        $0.op == .parameter && $0.attrs.string("name").hasPrefix("student.")
          && $0.attrs.int("trainable") != 0
      }.map { $0.attrs.string("name") }
    ).sorted()
    let numeric = try GradientCheck.numericGradient(
      program: forward, output: "loss", wrt: students, inputs: builder.inputs,
      buffers: builder.buffers, eps: 1e-3, stencil: .fourPoint)
    var result: [Agreement] = []
    for name in students {
      guard let analytic = outputs["grad." + name] else {
        XCTFail("no gradient for \(name)", file: file, line: line)
        continue
      }
      let expected = numeric[name]!
      if expected.norm < 1e-9 {
        // A gradient that vanishes identically (x − x, x / x): the analytic one must too,
        // up to rounding, so the error is absolute here.
        let error =
          analytic.shape == expected.shape
          ? zip(analytic.data, expected.data).map { ($0 - $1) * ($0 - $1) }.reduce(0, +)
            .squareRoot()
          : .infinity
        result.append(
          Agreement(
            parameter: name, relativeError: error, cosine: analytic.norm < 1e-12 ? 1 : 0))
      } else {
        let (relError, cosine) = GradientCheck.compare(analytic, expected)
        result.append(Agreement(parameter: name, relativeError: relError, cosine: cosine))
      }
    }
    return result
  }

  /// Asserts agreement within rel < 1e-6 and cos > 0.999999 (for a gradient that is zero
  /// everywhere, an analytic norm below 1e-12); returns the worst figures.
  @discardableResult
  func check(
    _ name: String, _ builder: GradientCheckBuilder, loss: ValueID,
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> (relativeError: Double, cosine: Double) {
    var worst = (relativeError: 0.0, cosine: 1.0)
    for agreement in try agreements(builder, loss: loss, file: file, line: line) {
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
