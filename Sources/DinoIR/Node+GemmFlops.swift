import CDinoOps

extension Program {
  /// The GEMM FLOPs of one run of node `index`: the `gemm_flops` formula of its op in
  /// `IR/ops.def` (2·M·N·K for matmul, linear and patch_embed; 0 for every other op),
  /// evaluated over the node's operand and result shapes and its attributes.
  public func gemmFlops(of index: Int) -> Double {
    let node = nodes[index]
    let operands = node.operands.map { Self.cShape(nodes[$0.index].type.shape) }
    var result = Self.cShape(node.type.shape)
    var slots = node.kernelAttributes
    slots.ints += [Int64](repeating: 0, count: max(0, Int(DINO_MAX_IATTRS) - slots.ints.count))
    slots.floats += [Float](repeating: 0, count: max(0, Int(DINO_MAX_FATTRS) - slots.floats.count))
    return dino_op_gemm_flops(
      Int32(node.op.rawValue), operands, Int32(operands.count), &result, slots.ints, slots.floats)
  }

  /// The sum of `gemmFlops` over every node.
  public var gemmFlops: Double { nodes.indices.reduce(0) { $0 + gemmFlops(of: $1) } }

  /// `shape` as the C table's `dino_shape` (ranks above the C limit keep their first dims).
  private static func cShape(_ shape: [Int]) -> dino_shape {
    var c = dino_shape()
    c.rank = Int32(min(shape.count, Int(DINO_MAX_RANK)))
    withUnsafeMutableBytes(of: &c.dims) { raw in
      let dims = raw.bindMemory(to: Int64.self)
      for (axis, extent) in shape.prefix(Int(DINO_MAX_RANK)).enumerated() {
        dims[axis] = Int64(extent)
      }
    }
    return c
  }
}
