import DinoIR

/// A dense row-major tensor in host memory: what safetensors files hold and what the
/// runtime hands out for program outputs.
public struct HostTensor: Hashable, Sendable {
  /// The elements, by element type.
  public enum Values: Hashable, Sendable {
    /// 32-bit floats.
    case f32([Float])
    /// 32-bit signed integers.
    case i32([Int32])
  }

  /// The extents, outermost first (empty for a scalar).
  public var shape: [Int]
  /// The elements; their count is the product of `shape`.
  public var values: Values

  /// Creates a float tensor.
  /// - Parameters:
  ///   - shape: the extents; their product must equal `floats.count`.
  ///   - floats: the elements, row-major.
  public init(shape: [Int], floats: [Float]) {
    precondition(shape.reduce(1, *) == floats.count, "HostTensor: shape does not match count")
    self.shape = shape
    self.values = .f32(floats)
  }

  /// Creates an integer tensor.
  /// - Parameters:
  ///   - shape: the extents; their product must equal `ints.count`.
  ///   - ints: the elements, row-major.
  public init(shape: [Int], ints: [Int32]) {
    precondition(shape.reduce(1, *) == ints.count, "HostTensor: shape does not match count")
    self.shape = shape
    self.values = .i32(ints)
  }

  /// The element type.
  public var dtype: DType {
    switch values {
    case .f32: .f32
    case .i32: .i32
    }
  }

  /// The IR type (`f32[2,3]`).
  public var type: TensorType { TensorType(dtype, shape) }

  /// The number of elements.
  public var count: Int {
    switch values {
    case .f32(let v): v.count
    case .i32(let v): v.count
    }
  }

  /// The elements as floats (integers converted).
  public var floats: [Float] {
    switch values {
    case .f32(let v): v
    case .i32(let v): v.map(Float.init)
    }
  }

  /// Calls `body` with the raw little-endian bytes of the elements.
  public func withUnsafeBytes<R>(_ body: (UnsafeRawBufferPointer) throws -> R) rethrows -> R {
    switch values {
    case .f32(let v): try v.withUnsafeBytes(body)
    case .i32(let v): try v.withUnsafeBytes(body)
    }
  }
}
