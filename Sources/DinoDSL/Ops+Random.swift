import DinoOps

/// A stochastic-depth mask: `batch` entries, each 0 or `1/(1 − rate)`, kept with probability
/// `1 − rate`, drawn from the counter-based RNG keyed by `(seed, stream, index)`.
///
/// Multiply a residual branch `[B, …]` by `reshape(mask, [B, 1, 1])` to drop whole samples.
/// - Parameters:
///   - seed: the step's `i32[]` seed input.
///   - rate: the drop probability, in `[0, 1)`.
///   - batch: the number of samples.
///   - stream: distinguishes masks within a step; `nil` takes the program's next free stream.
/// - Returns: `f32[batch]`.
public func dropPathMask(
  seed: Tensor, rate: Double, batch: Int, stream: Int? = nil,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  var chosen = stream ?? 0
  if let program = session.program {
    if stream == nil { chosen = program.nextStream }
    program.nextStream = max(program.nextStream, chosen + 1)
  }
  return session.record(
    .dropPathMask, [seed], ["rate": .float(rate), "stream": .int(chosen), "batch": .int(batch)],
    at: loc, fallback: TensorType(.f32, [max(batch, 1)]))
}
