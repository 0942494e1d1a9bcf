import CDinoOps

/// An op of the catalogue `IR/ops.def`, imported from C as a frozen enum.
///
/// Every per-op rule in Swift is an exhaustive `switch` over this type with no `default:`,
/// so adding a row to `ops.def` fails the build until each rule is written.
public typealias OpKind = dino_op

/// The kernel family of an op: which `Sources/CDinoKernels/<family>.c` holds its kernel.
public enum OpFamily: String, Sendable, CaseIterable {
  case leaf, gemm, eltwise, norm, softmax, attention, shape, reduce, random, optim
}

/// What makes an op: the `origin` column of `ops.def`.
public enum OpOrigin: String, Sendable, CaseIterable {
  /// A DSL call (forward ops, leaves, the effect ops a model may call).
  case dsl
  /// A VJP rule of the autodiff pass (the backward ops).
  case autodiff
  /// Only a compiler pass (the flat optimiser's ops).
  case pass
  /// Only the `fuse` pass.
  case fuse
}

/// The shape rule of an op: the `shape` column of `ops.def`.
public enum ShapeRule: String, Sendable, CaseIterable {
  /// A leaf's declared type.
  case declared
  /// Operand 0's shape.
  case same
  /// Every operand has operand 0's shape; so does the result.
  case sameAll = "same_all"
  /// Operand 1 broadcasts to operand 0 (right-aligned); the result has operand 0's shape.
  case broadcast
  /// Rank at least 1 (rows of the last axis); operand 0's shape.
  case rows
  /// Operand 0 reduced over attribute `axis` (kept as 1 when `keepdims` is 1).
  case reduceAxis = "reduce_axis"
  /// A scalar f32[].
  case scalar
  /// A bespoke rule in `OpKind.customShapeRules` (ShapeRules+Custom.swift).
  case custom
}

/// The type of an attribute value, as written in the `attrs` column of `ops.def`.
public enum AttrKind: Character, Sendable {
  /// One integer, passed to the kernel.
  case int = "i"
  /// One float, passed to the kernel.
  case float = "f"
  /// A string, compiler only.
  case string = "s"
  /// A list of integers, passed to the kernel.
  case ints = "I"
  /// A list of floats, compiler only (constant data).
  case floats = "F"
}

/// One entry of an op's attribute schema.
public struct AttrSpec: Sendable, Hashable {
  /// The attribute's name, as printed in the IR text.
  public let name: String
  /// Its type.
  public let kind: AttrKind
}

extension OpKind: @retroactive CustomStringConvertible, @unchecked @retroactive Sendable {
  /// Every op of the catalogue, in table order.
  public static let allOps: [OpKind] = (0..<Int32(DINO_OP_COUNT)).map {
    OpKind(rawValue: UInt32($0))!
  }

  /// Looks an op up by its snake_case IR name.
  public init?(name: String) {
    guard let op = OpKind.byName[name] else { return nil }
    self = op
  }

  private static let byName: [String: OpKind] = Dictionary(
    uniqueKeysWithValues: allOps.map { ($0.name, $0) })

  private var traits: dino_op_traits { dino_op_traits_of(Int32(rawValue)).pointee }

  /// The snake_case name used by the IR text and by C.
  public var name: String { String(cString: traits.name) }
  /// The IR text spelling (the same as `name`).
  public var description: String { name }
  /// The kernel family.
  public var family: OpFamily { OpFamily(rawValue: String(cString: traits.family))! }
  /// Operand count; `nil` for a variadic op (at least one operand).
  public var arity: Int? { traits.arity < 0 ? nil : Int(traits.arity) }
  /// Whether operand `index` receives a gradient.
  public func isDifferentiable(operand index: Int) -> Bool {
    index < 32 && traits.grad_mask & (1 << UInt32(index)) != 0
  }
  /// Whether the op has a VJP at all.
  public var isDifferentiable: Bool { traits.grad_mask != 0 }
  /// Whether the result may share operand 0's buffer.
  public var allowsInPlace: Bool { traits.inplace != 0 }
  /// Operands the op updates in place; non-empty marks an effect op.
  public var mutatedOperands: [Int] {
    (0..<8).filter { traits.mutates & (1 << UInt32($0)) != 0 }
  }
  /// Whether only a compiler pass emits the op (`origin` pass in ops.def: the `flatten`
  /// pass's `region`, `adamw_flat` and `ema_flat`): the DSL has no call for it.
  public var isPassOnly: Bool { origin == .pass }
  /// Whether only the compiler's `fuse` pass makes this op (`origin` fuse in ops.def: the
  /// DSL has no call for it, and autodiff never sees it).
  public var isMadeByFusion: Bool { origin == .fuse }
  /// What makes the op (the `origin` column).
  public var origin: OpOrigin { OpOrigin(rawValue: String(cString: traits.origin))! }
  /// The op's shape rule (the `shape` column): a rule of the shared vocabulary, or
  /// `custom` for a bespoke one in ShapeRules+Custom.swift.
  public var shapeRule: ShapeRule { ShapeRule(rawValue: String(cString: traits.shape))! }
  /// Whether the op's purpose is its side effect on persistent buffers.
  public var isEffect: Bool { traits.mutates != 0 }
  /// Whether the op has no operands and gets its value from outside the program.
  public var isLeaf: Bool { family == .leaf }
  /// Forward values its VJP reads: "dy" (the incoming gradient), "y" (the result),
  /// "xK" (operand K).
  public var backwardNeeds: [String] {
    String(cString: traits.bw_needs).split(separator: ",").map(String.init)
  }
  /// The operands whose forward values the VJP may read (the "xK" of `backwardNeeds`).
  public var backwardReadsOperands: Set<Int> {
    Set(backwardNeeds.compactMap { $0.first == "x" ? Int($0.dropFirst()) : nil })
  }
  /// Whether the VJP may read the op's own result ("y" in `backwardNeeds`).
  public var backwardReadsResult: Bool { backwardNeeds.contains("y") }
  /// The element type operand `index` must have (the `i32_in` column; f32 otherwise).
  public func operandDType(_ index: Int) -> DType {
    index < 32 && traits.i32_in & (1 << UInt32(index)) != 0 ? .i32 : .f32
  }
  /// Whether the kernel needs scratch memory.
  public var needsScratch: Bool { traits.scratch != 0 }
  /// What the op computes (the `doc` column): its IR/OPS.md entry, markdown.
  public var doc: String { String(cString: traits.doc) }
  /// The attribute schema, in slot order.
  public var attrSchema: [AttrSpec] {
    String(cString: traits.attrs).split(separator: ",").map { field in
      let parts = field.split(separator: ":")
      return AttrSpec(name: String(parts[0]), kind: AttrKind(rawValue: parts[1].first!)!)
    }
  }
}
