import DinoIR

/// A small transformer-like program: the executor tests plan it with the real pipeline and
/// run it against the reference kernels; the hostile-run tests write it as a plan.
public enum MLPFixture {
  /// Batch, tokens, model width, hidden width and classes of `graph()`.
  public static let sizes = (batch: 3, tokens: 7, dim: 12, hidden: 24, classes: 10)

  /// layer_norm → linear → gelu → linear → residual add → token mixing (matmul, softmax,
  /// matmul) → linear head → tempered softmax and log_softmax → reduce, unplanned.
  public static func graph() throws -> Graph {
    let (b, t, d, h, k) = sizes
    var p = ProgramBuilder(name: "forward")
    let x = p.input("x", [b, t, d])
    let gamma = p.parameter("student.norm.weight", [d], init: "uniform(0.5,1.5)")
    let beta = p.parameter("student.norm.bias", [d], init: "uniform(-0.1,0.1)")
    let w1 = p.parameter("student.fc1.weight", [h, d], init: "trunc_normal(0.2,-0.4,0.4)")
    let b1 = p.parameter("student.fc1.bias", [h], init: "uniform(-0.1,0.1)")
    let w2 = p.parameter("student.fc2.weight", [d, h], init: "trunc_normal(0.2,-0.4,0.4)")
    let b2 = p.parameter("student.fc2.bias", [d], init: "zeros")
    let w3 = p.parameter("student.head.weight", [k, d], init: "normal(0.3)")
    let b3 = p.parameter("student.head.bias", [k], init: "const(0.05)")
    let normed = try p.op(.layerNorm, x, gamma, beta, attrs: ["eps": .float(1e-6)])
    let hidden = try p.op(.gelu, p.op(.linear, normed, w1, b1))
    let residual = try p.op(.add, x, try p.op(.linear, hidden, w2, b2))
    let scores = try p.op(
      .matmul, residual, residual, attrs: ["trans_a": .int(0), "trans_b": .int(1)])
    let mixing = try p.op(.softmax, p.op(.scale, scores, attrs: ["factor": .float(0.25)]))
    let mixed = try p.op(
      .matmul, mixing, residual, attrs: ["trans_a": .int(0), "trans_b": .int(0)])
    let logits = try p.op(.linear, mixed, w3, b3)
    let tempered = try p.op(.scale, logits, attrs: ["factor": .float(10)])
    let probs = try p.op(.softmax, tempered)
    let logProbs = try p.op(.logSoftmax, tempered)
    let entropy = try p.op(
      .reduceSum, try p.op(.mul, probs, logProbs), attrs: ["axis": .int(2), "keepdims": .int(0)])
    let loss = try p.op(.reduceMean, entropy, attrs: ["axis": .int(1), "keepdims": .int(0)])
    p.output("residual", residual)
    p.output("probs", probs)
    p.output("loss", loss)
    return Graph(programs: [p.program])
  }
}
