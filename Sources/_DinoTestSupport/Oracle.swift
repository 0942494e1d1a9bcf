import DinoIR
import DinoRandom

/// One row per op of `IR/ops.def` (leaves and `result` aside): what the op computes in
/// Double, how to draw random cases of it, and the tolerance of a `Float` kernel against
/// it. Every test of an op derives from its row: the kernel test (`KernelTableTests`), the
/// reference interpreter (`ReferenceInterpreter`), the gradient check of differentiable
/// ops (`OracleGradientTests`) and the IR print/parse round trip (`OracleRoundTripTests`).
/// The rows live in `Oracle+<family>.swift`, beside the Double loops they call.
public struct OracleRow: Sendable {
  /// What the reference computes from operand values and attributes: the op's results
  /// (result 0, then results 1, 2, … of an op with several results), or, for an effect
  /// op, the new values of its mutated operands in operand order.
  public typealias Reference =
    @Sendable (_ operands: [ReferenceTensor], _ attrs: Attributes) throws -> [ReferenceTensor]

  /// The op.
  public var op: OpKind
  /// The absolute tolerance of a kernel against the reference.
  public var atol: Float = 1e-5
  /// The relative tolerance of a kernel against the reference.
  public var rtol: Float = 1e-4
  /// The Double reference.
  public var reference: Reference
  /// Draws one case of the op of the given size.
  public var make: @Sendable (inout TestRNG, SizeClass) -> KernelCase
  /// Draws the case a gradient check differentiates (differentiable ops): a tiny one,
  /// unless the row says otherwise (a kink the kernel test wants, finite differences not).
  public var gradientCase: @Sendable (inout TestRNG) -> KernelCase

  /// A row; `make` draws its cases, `gradient` (default: a tiny `make`) the gradient
  /// check's.
  public init(
    _ op: OpKind, atol: Float = 1e-5, rtol: Float = 1e-4, reference: @escaping Reference,
    gradient: (@Sendable (inout TestRNG) -> KernelCase)? = nil,
    make: @escaping @Sendable (inout TestRNG, SizeClass) -> KernelCase
  ) {
    self.op = op
    self.atol = atol
    self.rtol = rtol
    self.reference = reference
    self.make = make
    gradientCase = gradient ?? { rng in make(&rng, .tiny) }
  }
}

/// The rows of every family, in table order of families.
public let oracleTable: [OracleRow] =
  gemmOracleRows + eltwiseOracleRows + normOracleRows + softmaxOracleRows + dinoLossOracleRows
  + attentionOracleRows + shapeOracleRows + reduceOracleRows + randomOracleRows + optimOracleRows
  + linearWeightNormOracleRows

/// The row of each op, by op.
let oracleRows: [OpKind: OracleRow] = Dictionary(
  oracleTable.map { ($0.op, $0) }, uniquingKeysWith: { first, _ in first })

extension OpKind {
  /// The op's oracle row; `nil` for leaves and `result`, which the interpreter evaluates
  /// itself, and for an op nobody wrote a row for (`KernelTableTests` fails then).
  public var oracleRow: OracleRow? { oracleRows[self] }
}

/// A deterministic random source (SplitMix64) for test shapes and data.
public struct TestRNG: RandomNumberGenerator {
  var stream: SplitMix64

  /// A stream from `seed`.
  public init(seed: UInt64) { stream = SplitMix64(seed: seed) }

  /// The next 64 random bits.
  public mutating func next() -> UInt64 { stream.next() }

  /// A uniform integer in `range`.
  public mutating func int(_ range: ClosedRange<Int>) -> Int {
    range.lowerBound + Int(next() % UInt64(range.count))
  }

  /// A uniform float in [lo, hi).
  public mutating func float(_ lo: Float, _ hi: Float) -> Float {
    lo + (hi - lo) * Float(next() >> 40) / Float(1 << 24)
  }

  /// A coin flip.
  public mutating func bool() -> Bool { next() & 1 == 1 }

  /// One element of `items`.
  public mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }
}

/// How large a drawn case is: tiny (extents 1–5), odd medium sizes, or large enough
/// (≥ 2^15 elements, ≥ 2^20 GEMM flops) to take the multi-threaded paths.
public enum SizeClass: CaseIterable, Sendable {
  case tiny, medium, large

  /// An extent for this class; medium and large draws are odd-heavy (not multiples of 8).
  public func extent(_ rng: inout TestRNG) -> Int {
    switch self {
    case .tiny: return rng.int(1...5)
    case .medium: return rng.int(7...40) | 1
    case .large: return rng.int(150...260) | 1
    }
  }
}

/// One instruction to run: operand shapes and data, attributes (the kernel's int and
/// float slots), the result shape.
public struct KernelCase: Sendable {
  /// The op.
  public var op: OpKind
  /// Operand shapes.
  public var shapes: [[Int]]
  /// Operand data, row-major (i32 operands carry their bit patterns).
  public var data: [[Float]]
  /// The int attribute slots.
  public var iattr: [Int64] = []
  /// The float attribute slots.
  public var fattr: [Float] = []
  /// The result shape.
  public var out: [Int]
  /// Operands holding i32 data (their Float arrays carry the i32 bit patterns).
  public var int32Operands: Set<Int> = []
  /// The shapes of results 1, 2, … of an op with several results (their tensors follow
  /// the result's in the table, as the `result` nodes follow their producer).
  public var extraOuts: [[Int]] = []

  /// Makes a case whose operand data comes from `fill(operand, &rng)` per element.
  public init(
    _ op: OpKind, _ shapes: [[Int]], out: [Int], iattr: [Int64] = [], fattr: [Float] = [],
    rng: inout TestRNG, fill: (Int, inout TestRNG) -> Float = { _, r in r.float(-1, 1) }
  ) {
    self.op = op
    self.shapes = shapes
    self.out = out
    self.iattr = iattr
    self.fattr = fattr
    data = shapes.enumerated().map { i, s in
      (0..<s.reduce(1, *)).map { _ in fill(i, &rng) }
    }
  }

  /// Whether the op mutates operands (an effect op with a memoryless result).
  public var isEffect: Bool { op.isEffect }

  /// The case's named attributes: the op's schema read from the slots (an int list takes
  /// the remaining int slots); a slot beyond the given ones reads 0.
  public var attributes: Attributes {
    var attrs: Attributes = [:]
    var nextInt = 0, nextFloat = 0
    for spec in op.attrSchema {
      switch spec.kind {
      case .int:
        attrs[spec.name] = .int(nextInt < iattr.count ? Int(iattr[nextInt]) : 0)
        nextInt += 1
      case .ints:
        attrs[spec.name] = .ints(iattr.dropFirst(nextInt).map { Int($0) })
        nextInt = iattr.count
      case .float:
        attrs[spec.name] = .float(nextFloat < fattr.count ? Double(fattr[nextFloat]) : 0)
        nextFloat += 1
      case .string, .floats:
        break
      }
    }
    return attrs
  }

  /// Operand `i` as a reference tensor (an i32 operand as its integral values).
  public func operand(_ i: Int) -> ReferenceTensor {
    let i32 = op.operandDType(i) == .i32
    return ReferenceTensor(
      shape: shapes[i],
      data: data[i].map { i32 ? Double(Int32(bitPattern: $0.bitPattern)) : Double($0) })
  }

  /// The case with row `row` (of `cols` elements) of operand `operand` set to zero.
  public func zeroingRow(_ row: Int, of operand: Int, cols: Int) -> KernelCase {
    var c = self
    for j in 0..<cols { c.data[operand][row * cols + j] = 0 }
    return c
  }
}
