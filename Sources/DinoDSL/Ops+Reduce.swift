import DinoOps

/// The sum over `axis`.
/// - Parameters:
///   - x: the tensor.
///   - axis: the axis (negative counts from the end).
///   - keepDims: keep `axis` with extent 1.
/// - Returns: `x` without `axis` (or with it at 1).
public func sum(
  _ x: Tensor, axis: Int, keepDims: Bool = false,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  reduce(.reduceSum, x, axis: axis, keepDims: keepDims, at: session.userLoc(file, line, column))
}

/// The mean over `axis`.
/// - Parameters:
///   - x: the tensor.
///   - axis: the axis (negative counts from the end).
///   - keepDims: keep `axis` with extent 1.
/// - Returns: `x` without `axis` (or with it at 1).
public func mean(
  _ x: Tensor, axis: Int, keepDims: Bool = false,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  reduce(.reduceMean, x, axis: axis, keepDims: keepDims, at: session.userLoc(file, line, column))
}

/// Sums `x` down to `shape`, the adjoint of broadcasting: `shape` must broadcast to `x`.
/// - Parameters:
///   - x: the tensor.
///   - shape: the target shape.
/// - Returns: a tensor of `shape`.
public func sum(
  _ x: Tensor, to shape: [Int], file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .sumTo, [x], ["shape": .ints(shape)], at: session.userLoc(file, line, column),
    fallback: TensorType(.f32, shape))
}

/// The element-wise sum of `x` over the processes of a data-parallel run (`mpirun -np N
/// dino-run train`: every process runs the same instruction on its own `x`); `x` itself when
/// the process runs alone. Not differentiable: for values without a gradient, such as the
/// teacher's batch sums.
/// - Parameters:
///   - x: this process's values.
/// - Returns: a tensor of `x`'s shape.
public func allReduceSum(
  _ x: Tensor, file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(.allReduceSum, [x], at: session.userLoc(file, line, column), fallback: x.type)
}

private func reduce(_ op: OpKind, _ x: Tensor, axis: Int, keepDims: Bool, at loc: SourceLoc)
  -> Tensor
{
  guard let a = session.normalize(axis: axis, rank: x.rank, op.name, at: loc) else {
    return session.invalid(x.shape, at: loc)
  }
  var guess = x.shape
  if keepDims { guess[a] = 1 } else { guess.remove(at: a) }
  return session.record(
    op, [x], ["axis": .int(a), "keepdims": .int(keepDims ? 1 : 0)], at: loc,
    fallback: TensorType(.f32, guess))
}
