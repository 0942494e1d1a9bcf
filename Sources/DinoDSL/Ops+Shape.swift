import DinoOps

/// The same elements in a new shape; one dimension may be `-1` (inferred).
/// - Parameters:
///   - x: the tensor.
///   - shape: the new shape, with at most one `-1`.
/// - Returns: a tensor with `x`'s elements in row-major order.
public func reshape(
  _ x: Tensor, _ shape: [Int], file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  var resolved = shape
  let holes = shape.indices.filter { shape[$0] == -1 }
  if holes.count > 1 || shape.contains(where: { $0 < -1 || $0 == 0 }) {
    session.error(
      "reshape: \(shapeText(shape)) may contain one -1 and otherwise positive sizes", at: loc)
    return session.invalid(shape.map { max($0, 1) }, at: loc)
  }
  if let hole = holes.first {
    let known = shape.filter { $0 != -1 }.reduce(1, *)
    if x.count % known != 0 {
      session.error("reshape: cannot reshape \(shapeText(x.shape)) to \(shapeText(shape))", at: loc)
      resolved[hole] = 1
      return session.invalid(resolved, at: loc)
    }
    resolved[hole] = x.count / known
  }
  return session.record(
    .reshape, [x], ["shape": .ints(resolved)], at: loc, fallback: TensorType(.f32, resolved))
}

/// Reorders dimensions: dimension `i` of the result is dimension `perm[i]` of `x`.
/// - Parameters:
///   - x: the tensor.
///   - perm: a permutation of `0..<rank` (negative entries count from the end).
/// - Returns: the permuted tensor.
public func permute(
  _ x: Tensor, _ perm: [Int], file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  let normalized = perm.map { $0 < 0 ? $0 + x.rank : $0 }
  let guess = normalized.map { x.shape.indices.contains($0) ? x.shape[$0] : 1 }
  return session.record(
    .permute, [x], ["perm": .ints(normalized)], at: loc, fallback: TensorType(.f32, guess))
}

extension Tensor {
  /// The tensor with its last two dimensions swapped.
  /// - Returns: `[..., N, M]` for `[..., M, N]`.
  public func transposed(
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    guard rank >= 2 else {
      let loc = session.userLoc(file, line, column)
      if isValid { session.error("transposed: needs rank >= 2, got \(shapeText(shape))", at: loc) }
      return session.invalid(shape, at: loc)
    }
    var perm = Array(0..<rank)
    perm.swapAt(rank - 1, rank - 2)
    return permute(self, perm, file: file, line: line, column: column)
  }
}

/// Joins tensors along `axis`; they must agree on every other dimension.
/// - Parameters:
///   - tensors: one or more tensors of equal rank.
///   - axis: the axis (negative counts from the end).
/// - Returns: the concatenation.
public func concat(
  _ tensors: [Tensor], axis: Int,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  guard let first = tensors.first else {
    session.error("concat: needs at least one tensor", at: loc)
    return session.invalid([1], at: loc)
  }
  guard let a = session.normalize(axis: axis, rank: first.rank, "concat", at: loc) else {
    return session.invalid(first.shape, at: loc)
  }
  var guess = first.shape
  guess[a] = tensors.reduce(0) { $0 + ($1.rank == first.rank ? $1.shape[a] : 0) }
  return session.record(
    .concat, tensors, ["axis": .int(a)], at: loc, fallback: TensorType(.f32, guess))
}

/// The elements with index in `range` along `axis`.
/// - Parameters:
///   - x: the tensor.
///   - axis: the axis (negative counts from the end).
///   - range: the indices kept.
/// - Returns: `x` with `axis` cut to `range.count`.
public func slice(
  _ x: Tensor, axis: Int, _ range: Range<Int>,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  guard let a = session.normalize(axis: axis, rank: x.rank, "slice", at: loc) else {
    return session.invalid(x.shape, at: loc)
  }
  var guess = x.shape
  guess[a] = max(range.count, 1)
  return session.record(
    .slice, [x], ["axis": .int(a), "start": .int(range.lowerBound), "end": .int(range.upperBound)],
    at: loc, fallback: TensorType(.f32, guess))
}

/// Zero padding along `axis`.
/// - Parameters:
///   - x: the tensor.
///   - axis: the axis (negative counts from the end).
///   - before: zeros inserted before index 0.
///   - after: zeros appended after the last index.
/// - Returns: `x` with `axis` grown by `before + after`.
public func pad(
  _ x: Tensor, axis: Int, before: Int = 0, after: Int = 0,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  guard let a = session.normalize(axis: axis, rank: x.rank, "pad", at: loc) else {
    return session.invalid(x.shape, at: loc)
  }
  var guess = x.shape
  guess[a] += max(before, 0) + max(after, 0)
  return session.record(
    .pad, [x], ["axis": .int(a), "before": .int(before), "after": .int(after)], at: loc,
    fallback: TensorType(.f32, guess))
}

/// Repeats `x` to `shape`, right-aligned: each dimension of `x` equals the target's or is 1.
/// - Parameters:
///   - x: the tensor.
///   - shape: the target shape.
/// - Returns: a tensor of `shape`.
public func broadcast(
  _ x: Tensor, to shape: [Int], file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  session.record(
    .broadcastTo, [x], ["shape": .ints(shape)], at: session.userLoc(file, line, column),
    fallback: TensorType(.f32, shape))
}
