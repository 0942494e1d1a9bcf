import DinoOps

/// `x · factor` element-wise.
/// - Parameters:
///   - x: the tensor.
///   - factor: the constant factor.
/// - Returns: a tensor of `x`'s shape.
public func scale(
  _ x: Tensor, by factor: Double,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .scale, [x], ["factor": .float(factor)], at: session.userLoc(file, line, column),
    fallback: x.type)
}

/// GELU with the exact erf form: `x · Φ(x)` (PyTorch's `nn.GELU()` default).
/// - Parameters:
///   - x: the tensor.
/// - Returns: a tensor of `x`'s shape.
public func gelu(
  _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.gelu, [x], at: session.userLoc(file, line, column), fallback: x.type)
}

/// The natural logarithm, element-wise (`x` > 0).
/// - Parameters:
///   - x: the tensor.
/// - Returns: a tensor of `x`'s shape.
public func log(
  _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.log, [x], at: session.userLoc(file, line, column), fallback: x.type)
}

/// eˣ, element-wise (exactly 1 at 0).
/// - Parameters:
///   - x: the tensor.
/// - Returns: a tensor of `x`'s shape.
public func exp(
  _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.exp, [x], at: session.userLoc(file, line, column), fallback: x.type)
}

/// Softmax over the last axis.
/// - Parameters:
///   - x: the logits.
/// - Returns: probabilities of `x`'s shape.
public func softmax(
  _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.softmax, [x], at: session.userLoc(file, line, column), fallback: x.type)
}

/// Log-softmax over the last axis.
/// - Parameters:
///   - x: the logits.
/// - Returns: log-probabilities of `x`'s shape.
public func logSoftmax(
  _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.logSoftmax, [x], at: session.userLoc(file, line, column), fallback: x.type)
}

/// DINO's cross-entropy in one op: the mean over the `2V − 2` pairs of a teacher view
/// `a ∈ {0, 1}` and a student view `v ≠ a` of
/// `mean_b −Σ_k targets[a·B + b, k] · log_softmax(student[v·B + b] / τs)_k`.
/// Only `student` gets a gradient (the closed form of `dino_cross_entropy_bwd`).
/// - Parameters:
///   - student: student logits `[V·B, K]`, view-major, the two global views first.
///   - targets: the teacher's target probabilities `[2·B, K]` (rows summing to 1).
///   - views: `V`, at least 2.
///   - studentTemp: `τs`; the op keeps `1/τs` as its `scale` (a double attribute).
/// - Returns: the scalar loss `f32[]`.
public func dinoCrossEntropy(
  student: Tensor, targets: Tensor, views: Int, studentTemp: Double,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .dinoCrossEntropy, [student, targets],
    ["views": .int(views), "scale": .float(1 / studentTemp)],
    at: session.userLoc(file, line, column), fallback: .scalar)
}

/// A constant tensor.
/// - Parameters:
///   - data: the values, row-major; as many as the shape has elements.
///   - shape: the shape (`[]` for a scalar).
/// - Returns: the constant.
public func constant(
  _ data: [Float], shape: [Int],
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let type = TensorType(.f32, shape)
  return session.record(
    .constant, [], ["data": .floats(data)], declared: type, at: session.userLoc(file, line, column),
    fallback: type)
}

/// A scalar constant.
/// - Parameters:
///   - value: the value.
/// - Returns: an `f32[]` constant.
public func constant(
  _ value: Double, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  constant([Float(value)], shape: [], file: file, line: line, column: column)
}
