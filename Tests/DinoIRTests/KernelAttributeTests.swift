import CDinoOps
import DinoIR
import XCTest

/// The attribute slots Swift packs (`Node.kernelAttributes`) and the per-op C structs of
/// `dino_attrs.h` agree name by name, and the FLOP formulas of ops.def give 2·M·N·K.
final class KernelAttributeTests: XCTestCase {
  /// A node of `op` whose every attribute has a value no other attribute has.
  private func distinctAttributes(_ op: OpKind) -> (Node, [String: Double]) {
    var attrs: Attributes = [:]
    var expected: [String: Double] = [:]
    for (i, spec) in op.attrSchema.enumerated() {
      let v = i + 2
      switch spec.kind {
      case .int:
        attrs[spec.name] = .int(v)
        expected[spec.name] = Double(v)
      case .ints:
        attrs[spec.name] = .ints([v, v + 10, v + 20])
        expected[spec.name] = Double(v)
      case .float:
        attrs[spec.name] = .float(Double(v) + 0.5)
        expected[spec.name] = Double(v) + 0.5
      case .string: attrs[spec.name] = .string("s")
      case .floats: attrs[spec.name] = .floats([1])
      }
    }
    return (Node(op, attrs: attrs, type: .scalar), expected)
  }

  func testEveryAttributeReadsTheSameValueInSwiftAndC() {
    for op in OpKind.allOps {
      let (node, expected) = distinctAttributes(op)
      var slots = node.kernelAttributes
      slots.ints += [Int64](repeating: -1, count: Int(DINO_MAX_IATTRS) - slots.ints.count)
      slots.floats += [Float](repeating: -1, count: Int(DINO_MAX_FATTRS) - slots.floats.count)
      for spec in op.attrSchema {
        var value = 0.0
        let found = dino_op_attr_value(
          Int32(op.rawValue), spec.name, slots.ints, slots.floats, &value)
        if let want = expected[spec.name] {
          XCTAssertEqual(found, 1, "\(op.name).\(spec.name) has no field in the C struct")
          XCTAssertEqual(value, want, "\(op.name).\(spec.name): C reads another slot")
        } else {
          XCTAssertEqual(found, 0, "\(op.name).\(spec.name) stays in the compiler")
        }
      }
      var none = 0.0
      let code = Int32(op.rawValue)
      XCTAssertEqual(dino_op_attr_value(code, "no_such", slots.ints, slots.floats, &none), 0)
    }
  }

  func testGemmFlopsFollowTheTable() {
    var p = Program(name: "p")
    func add(_ op: OpKind, _ operands: [Int], _ shape: [Int], _ attrs: Attributes = [:]) {
      let type = TensorType(.f32, shape)
      p.nodes.append(Node(op, operands.map(ValueID.init), attrs: attrs, type: type))
    }
    add(.input, [], [2, 5, 3], ["name": .string("a")])  // %0
    add(.input, [], [2, 5, 7], ["name": .string("b")])  // %1
    add(.matmul, [0, 1], [2, 3, 7], ["trans_a": .int(1), "trans_b": .int(0)])  // K = 5
    add(.input, [], [4, 6], ["name": .string("x")])  // %3
    add(.input, [], [9, 6], ["name": .string("w")])  // %4
    add(.input, [], [9], ["name": .string("bias")])  // %5
    add(.linear, [3, 4, 5], [4, 9])  // K = 6
    add(.input, [], [1, 3, 8, 8], ["name": .string("img")])  // %7
    add(.input, [], [4, 3, 4, 4], ["name": .string("pw")])  // %8
    add(.input, [], [4], ["name": .string("pb")])  // %9
    add(.patchEmbed, [7, 8, 9], [1, 4, 4], ["patch": .int(4)])  // K = 48
    add(.gelu, [6], [4, 9])
    let matmul: Double = 2 * 42 * 5, linear: Double = 2 * 36 * 6, embed: Double = 2 * 16 * 48
    XCTAssertEqual(p.gemmFlops(of: 2), matmul)
    XCTAssertEqual(p.gemmFlops(of: 6), linear)
    XCTAssertEqual(p.gemmFlops(of: 10), embed)
    XCTAssertEqual(p.gemmFlops(of: 11), 0)
    XCTAssertEqual(p.gemmFlops, matmul + linear + embed)
  }
}
