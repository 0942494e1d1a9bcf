extension Node {
  /// The attribute slots the C kernels read: ints and int lists fill `ints` in schema
  /// order (a list writes each element), floats fill `floats`. Strings and float lists
  /// (names, init specs, constant data) stay in the compiler.
  public var kernelAttributes: (ints: [Int64], floats: [Float]) {
    var ints: [Int64] = [], floats: [Float] = []
    for spec in op.attrSchema {
      switch spec.kind {
      case .int: ints.append(Int64(attrs.int(spec.name)))
      case .ints: ints += attrs.ints(spec.name).map(Int64.init)
      case .float: floats.append(Float(attrs.float(spec.name)))
      case .string, .floats: break
      }
    }
    return (ints, floats)
  }
}
