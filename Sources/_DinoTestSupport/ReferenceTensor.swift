import DinoIR

/// A dense row-major tensor of `Double`s on the host: the value type of the reference
/// interpreter and of every test that checks a kernel, a pass or the runtime against it.
///
/// `i32` values (the drop-path seed) are stored as integral doubles.
public struct ReferenceTensor: Hashable, Sendable, CustomStringConvertible {
  /// The extent of each dimension, outermost first (`[]` is a scalar).
  public var shape: [Int]
  /// The elements in row-major order; `data.count == shape.reduce(1, *)`.
  public var data: [Double]

  /// Creates a tensor from its shape and row-major elements.
  /// - Precondition: `data.count` equals the product of `shape`, and no extent is negative.
  public init(shape: [Int], data: [Double]) {
    precondition(
      shape.allSatisfy { $0 >= 0 }, "ReferenceTensor: negative extent in \(shapeText(shape))")
    precondition(
      shape.reduce(1, *) == data.count,
      "ReferenceTensor: shape \(shapeText(shape)) needs \(shape.reduce(1, *)) values, got \(data.count)"
    )
    self.shape = shape
    self.data = data
  }

  /// Creates a tensor with every element equal to `value`.
  public init(shape: [Int], repeating value: Double = 0) {
    self.init(shape: shape, data: Array(repeating: value, count: shape.reduce(1, *)))
  }

  /// Creates a scalar (`shape == []`).
  public init(scalar value: Double) {
    self.init(shape: [], data: [value])
  }

  /// Creates a tensor from `Float` elements (what the kernels and the runtime hold).
  public init(shape: [Int], floats: [Float]) {
    self.init(shape: shape, data: floats.map(Double.init))
  }

  /// Creates a tensor whose element at flat index `i` is `element(i)`.
  public init(shape: [Int], element: (Int) -> Double) {
    self.init(shape: shape, data: (0..<shape.reduce(1, *)).map(element))
  }

  /// The number of elements.
  public var count: Int { data.count }

  /// The number of dimensions.
  public var rank: Int { shape.count }

  /// The elements rounded to `Float`, row-major.
  public var floats: [Float] { data.map(Float.init) }

  /// The only element of a one-element tensor, else `nil`.
  public var scalar: Double? { data.count == 1 ? data[0] : nil }

  /// The Euclidean norm of all elements.
  public var norm: Double { data.reduce(0) { $0 + $1 * $1 }.squareRoot() }

  /// The element at a multi-index (one coordinate per dimension).
  public subscript(index: [Int]) -> Double {
    get { data[Self.flatIndex(index, shape)] }
    set { data[Self.flatIndex(index, shape)] = newValue }
  }

  /// The same elements under another shape of equal count.
  /// - Precondition: the counts agree.
  public func reshaped(_ newShape: [Int]) -> ReferenceTensor {
    ReferenceTensor(shape: newShape, data: data)
  }

  /// Whether `self` and `reference` have the same shape and every element satisfies
  /// `|self − reference| ≤ absoluteTolerance + relativeTolerance · |reference|`
  /// (llm.c's `validate_results_cpu` rule; NaN never matches).
  public func approximatelyEqual(
    _ reference: ReferenceTensor, absoluteTolerance: Double = 1e-9, relativeTolerance: Double = 1e-6
  ) -> Bool {
    guard shape == reference.shape else { return false }
    for (a, b) in zip(data, reference.data) {
      if !(abs(a - b) <= absoluteTolerance + relativeTolerance * abs(b)) { return false }
    }
    return true
  }

  /// The largest element-wise absolute difference; `.infinity` when the shapes differ,
  /// NaN when either side holds a NaN.
  public func maxAbsDifference(_ other: ReferenceTensor) -> Double {
    guard shape == other.shape else { return .infinity }
    var worst = 0.0
    for (a, b) in zip(data, other.data) {
      let d = abs(a - b)
      if d.isNaN { return .nan }
      worst = max(worst, d)
    }
    return worst
  }

  /// `f64[2,3] [1, 2, 3, 4, 5, 6]`, eliding the middle of long tensors.
  public var description: String {
    let shown = data.count <= 16 ? data : Array(data.prefix(8)) + Array(data.suffix(8))
    var items = shown.map { "\($0)" }
    if data.count > 16 { items.insert("…", at: 8) }
    return "f64\(shapeText(shape)) [\(items.joined(separator: ", "))]"
  }

  /// The row-major strides of `shape` (elements, not bytes).
  public static func strides(_ shape: [Int]) -> [Int] {
    var strides = Array(repeating: 1, count: shape.count)
    var step = 1
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      strides[d] = step
      step *= shape[d]
    }
    return strides
  }

  /// The multi-index of flat index `flat` in a row-major tensor of `shape`.
  public static func multiIndex(_ flat: Int, _ shape: [Int]) -> [Int] {
    var index = Array(repeating: 0, count: shape.count)
    var rest = flat
    for d in stride(from: shape.count - 1, through: 0, by: -1) {
      index[d] = rest % shape[d]
      rest /= shape[d]
    }
    return index
  }

  /// The flat index of multi-index `index` in a row-major tensor of `shape`.
  /// - Precondition: one coordinate per dimension, each in range.
  public static func flatIndex(_ index: [Int], _ shape: [Int]) -> Int {
    precondition(
      index.count == shape.count, "ReferenceTensor: index \(index) for shape \(shapeText(shape))")
    var flat = 0
    for d in 0..<shape.count {
      precondition(
        index[d] >= 0 && index[d] < shape[d],
        "ReferenceTensor: index \(index) out of \(shapeText(shape))")
      flat = flat * shape[d] + index[d]
    }
    return flat
  }
}
