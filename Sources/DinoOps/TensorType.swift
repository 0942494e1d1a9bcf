/// The element type of a tensor.
public enum DType: String, Sendable, Hashable, Codable {
  /// 32-bit IEEE float.
  case f32
  /// 32-bit signed integer (seeds, step counters).
  case i32

  /// Bytes per element.
  public var byteSize: Int { 4 }
}

/// A static tensor type: element type and shape (rank 0 is a scalar).
public struct TensorType: Hashable, Sendable, Codable, CustomStringConvertible {
  /// The element type.
  public var dtype: DType
  /// The extent of each dimension, outermost first.
  public var shape: [Int]

  /// Creates a type from its parts.
  public init(_ dtype: DType = .f32, _ shape: [Int]) {
    self.dtype = dtype
    self.shape = shape
  }

  /// The scalar `f32[]` type, the result type of effect ops.
  public static let scalar = TensorType(.f32, [])

  /// The number of elements.
  public var count: Int { shape.reduce(1, *) }
  /// The size in bytes.
  public var byteSize: Int { count * dtype.byteSize }
  /// The rank.
  public var rank: Int { shape.count }
  /// `f32[64,197,384]`.
  public var description: String { "\(dtype)[\(shape.map(String.init).joined(separator: ","))]" }
}

/// Renders a shape as `[64,197,384]` for messages.
public func shapeText(_ shape: [Int]) -> String {
  "[\(shape.map(String.init).joined(separator: ","))]"
}
