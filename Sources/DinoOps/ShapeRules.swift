/// A shape or type error found by an op's shape rule; the message names the op.
public struct ShapeError: Error, Equatable, Sendable, CustomStringConvertible {
  /// `matmul: [64,192] x [128,576] — inner dimensions differ`.
  public let message: String
  /// Creates an error with its message.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}

/// Whether `small` broadcasts to `big`: right-aligned, each dimension equal or 1.
public func broadcasts(_ small: [Int], to big: [Int]) -> Bool {
  guard small.count <= big.count else { return false }
  let offset = big.count - small.count
  return small.indices.allSatisfy { small[$0] == 1 || small[$0] == big[$0 + offset] }
}

extension OpKind {
  /// The result type of this op applied to operands of the given types.
  ///
  /// - Parameters:
  ///   - operands: the operand types, in order.
  ///   - attrs: the node's attributes (already checked against the schema).
  ///   - declared: the type a leaf declares (leaves have no rule of their own).
  /// - Throws: `ShapeError` describing the first mismatch.
  public func resultType(
    _ operands: [TensorType], _ attrs: Attributes, declared: TensorType? = nil
  ) throws(ShapeError) -> TensorType {
    if let arity, operands.count != arity {
      throw ShapeError("\(name): expects \(arity) operands, got \(operands.count)")
    }
    if arity == nil && operands.isEmpty { throw ShapeError("\(name): expects operands") }
    let s = operands.map(\.shape)
    func f32(_ shape: [Int]) -> TensorType { TensorType(.f32, shape) }  // every op's result
    func same(_ i: Int, _ j: Int, _ what: String) throws(ShapeError) {
      if s[i] != s[j] {
        throw ShapeError("\(name): \(what) \(shapeText(s[j])) differs from \(shapeText(s[i]))")
      }
    }
    func scalar(_ i: Int, _ what: String) throws(ShapeError) {
      if operands[i].count != 1 {
        throw ShapeError("\(name): \(what) must be a scalar, got \(shapeText(s[i]))")
      }
    }
    func axis(_ key: String, rank: Int) throws(ShapeError) -> Int {
      let a = attrs.int(key)
      if a < 0 || a >= rank { throw ShapeError("\(name): axis \(a) out of range for rank \(rank)") }
      return a
    }
    for (i, t) in operands.enumerated() where t.dtype != operandDType(i) {
      throw ShapeError("\(name): operand \(i) must be \(operandDType(i)), got \(t)")
    }
    switch self {
    case .input, .parameter, .constant, .region:
      guard let declared else { throw ShapeError("\(name): a leaf needs a declared type") }
      if self == .region && (declared.rank != 1 || declared.dtype != .f32) {
        throw ShapeError("region: a region is one flat f32[N], got \(declared)")
      }
      if self == .constant && attrs.floats("data").count != declared.count {
        throw ShapeError(
          "constant: \(attrs.floats("data").count) values for type \(declared)")
      }
      return declared

    case .matmul:
      guard s[0].count >= 2, s[1].count >= 2 else {
        throw ShapeError(
          "matmul: operands must have rank >= 2, got \(shapeText(s[0])) x \(shapeText(s[1]))")
      }
      let ta = attrs.int("trans_a") != 0, tb = attrs.int("trans_b") != 0
      let a = s[0], b = s[1]
      let (m, ka) = ta ? (a[a.count - 1], a[a.count - 2]) : (a[a.count - 2], a[a.count - 1])
      let (kb, n) = tb ? (b[b.count - 1], b[b.count - 2]) : (b[b.count - 2], b[b.count - 1])
      if ka != kb {
        throw ShapeError("matmul: \(shapeText(a)) x \(shapeText(b)) — inner dimensions differ")
      }
      let batchA = Array(a.dropLast(2)), batchB = Array(b.dropLast(2))
      if !batchB.isEmpty && batchA != batchB {
        throw ShapeError("matmul: \(shapeText(a)) x \(shapeText(b)) — batch dimensions differ")
      }
      return f32(batchA + [m, n])

    case .linear, .linearGelu, .linearResidual:
      guard let inDim = s[0].last, s[1].count == 2, s[2].count == 1 else {
        throw ShapeError("linear: expects x [...,in], weight [out,in], bias [out]")
      }
      if s[1][1] != inDim {
        throw ShapeError(
          "linear: weight \(shapeText(s[1])) expects last dim \(s[1][1]), got \(inDim)")
      }
      if s[2][0] != s[1][0] {
        throw ShapeError("linear: bias \(shapeText(s[2])) does not match weight \(shapeText(s[1]))")
      }
      let out = Array(s[0].dropLast()) + [s[1][0]]
      if self == .linearResidual && s[3] != out {
        throw ShapeError(
          "linear_residual: residual \(shapeText(s[3])) differs from \(shapeText(out))")
      }
      return f32(out)

    case .patchEmbed:
      let p = attrs.int("patch")
      guard s[0].count == 4, s[1].count == 4, s[2].count == 1, p > 0 else {
        throw ShapeError("patch_embed: expects x [B,C,H,W], weight [D,C,p,p], bias [D]")
      }
      if s[1][1] != s[0][1] || s[1][2] != p || s[1][3] != p || s[2][0] != s[1][0] {
        throw ShapeError(
          "patch_embed: weight \(shapeText(s[1])) and bias \(shapeText(s[2])) do not fit input \(shapeText(s[0])) with patch \(p)"
        )
      }
      if s[0][2] % p != 0 || s[0][3] % p != 0 {
        throw ShapeError("patch_embed: image \(s[0][2])x\(s[0][3]) is not a multiple of patch \(p)")
      }
      return f32([s[0][0], (s[0][2] / p) * (s[0][3] / p), s[1][0]])

    case .add, .sub, .mul, .div:
      if !broadcasts(s[1], to: s[0]) {
        throw ShapeError("\(name): \(shapeText(s[1])) does not broadcast to \(shapeText(s[0]))")
      }
      return f32(s[0])

    case .scale, .gelu, .softmax, .logSoftmax:
      return f32(s[0])

    case .geluBwd, .softmaxBwd, .logSoftmaxBwd, .l2NormalizeBwd:
      try same(0, 1, "operand")
      return f32(s[0])

    case .l2Normalize:
      if s[0].isEmpty { throw ShapeError("l2_normalize: needs rank >= 1") }
      return f32(s[0])

    case .layerNorm, .layerNormBwd:
      let x = self == .layerNorm ? 0 : 1
      if self == .layerNormBwd { try same(0, 1, "x") }
      guard let d = s[x].last else { throw ShapeError("\(name): needs rank >= 1") }
      if s[x + 1] != [d] {
        throw ShapeError("\(name): gamma must be [\(d)], got \(shapeText(s[x + 1]))")
      }
      if self == .layerNorm && s[2] != [d] {
        throw ShapeError("layer_norm: beta must be [\(d)], got \(shapeText(s[2]))")
      }
      return f32(s[x])

    case .layerNormTrain:
      guard let d = s[0].last else { throw ShapeError("\(name): needs rank >= 1") }
      if s[1] != [d] || s[2] != [d] {
        throw ShapeError(
          "\(name): gamma and beta must be [\(d)], got \(shapeText(s[1])), \(shapeText(s[2]))")
      }
      return f32(s[0])

    case .layerNormGrad:
      try same(0, 1, "x")
      guard let d = s[1].last else { throw ShapeError("\(name): needs rank >= 1") }
      let stats = Array(s[1].dropLast()) + [2]
      if s[2] != stats {
        throw ShapeError("\(name): stats must be \(shapeText(stats)), got \(shapeText(s[2]))")
      }
      if s[3] != [d] { throw ShapeError("\(name): gamma must be [\(d)], got \(shapeText(s[3]))") }
      return f32(s[1])

    case .attention, .attentionBwd:
      let qkv = self == .attention ? 0 : 1
      let heads = attrs.int("heads")
      guard s[qkv].count == 3, heads >= 1, s[qkv][2] % (3 * heads) == 0, s[qkv][2] > 0 else {
        throw ShapeError(
          "\(name): qkv must be [B, N, 3·C] with C a multiple of heads \(heads), got "
            + shapeText(s[qkv]))
      }
      let (b, n) = (s[qkv][0], s[qkv][1])
      if self == .attention { return f32([b, n, s[qkv][2] / 3]) }
      if s[0] != [b, n, s[qkv][2] / 3] {
        throw ShapeError(
          "\(name): dy must be \(shapeText([b, n, s[qkv][2] / 3])), got \(shapeText(s[0]))")
      }
      if s[2] != [b, heads, n, n] {
        throw ShapeError(
          "\(name): probs must be \(shapeText([b, heads, n, n])), got \(shapeText(s[2]))")
      }
      return f32(s[1])

    case .result:
      // The type comes from the producer (`extraResultTypes`), which the verifier checks.
      guard let declared, declared.dtype == .f32 else {
        throw ShapeError("result: needs a declared f32 type")
      }
      if attrs.int("index") < 1 { throw ShapeError("result: index must be at least 1") }
      return declared

    case .layerNormBwdGamma:
      try same(0, 1, "x")
      guard let d = s[0].last else { throw ShapeError("\(name): needs rank >= 1") }
      return f32([d])

    case .weightNorm, .weightNormBwdV, .weightNormBwdG:
      let v = self == .weightNorm ? 0 : 1
      guard s[v].count == 2 else {
        throw ShapeError("\(name): v must be [K,C], got \(shapeText(s[v]))")
      }
      if self != .weightNorm { try same(0, 1, "v") }
      if self != .weightNormBwdG && s[v + 1] != [s[v][0], 1] {
        throw ShapeError("\(name): g must be [\(s[v][0]),1], got \(shapeText(s[v + 1]))")
      }
      return f32(self == .weightNormBwdG ? [s[v][0], 1] : s[v])

    case .reshape:
      let shape = attrs.ints("shape")
      if shape.contains(where: { $0 < 0 }) || shape.reduce(1, *) != operands[0].count {
        throw ShapeError("reshape: cannot reshape \(shapeText(s[0])) to \(shapeText(shape))")
      }
      return f32(shape)

    case .permute:
      let perm = attrs.ints("perm")
      if perm.sorted() != Array(0..<s[0].count) {
        throw ShapeError("permute: \(perm) is not a permutation of rank \(s[0].count)")
      }
      return f32(perm.map { s[0][$0] })

    case .concat:
      let a = try axis("axis", rank: s[0].count)
      var out = s[0]
      for i in 1..<s.count {
        var x = s[i], y = s[0]
        if x.count == y.count { x[a] = 0; y[a] = 0 }
        if x != y {
          throw ShapeError(
            "concat: operand \(i) \(shapeText(s[i])) does not match \(shapeText(s[0])) outside axis \(a)"
          )
        }
        out[a] += s[i][a]
      }
      return f32(out)

    case .slice:
      let a = try axis("axis", rank: s[0].count)
      let start = attrs.int("start"), end = attrs.int("end")
      if start < 0 || end > s[0][a] || start >= end {
        throw ShapeError(
          "slice: [\(start), \(end)) out of range for axis \(a) of \(shapeText(s[0]))")
      }
      var out = s[0]
      out[a] = end - start
      return f32(out)

    case .pad:
      let a = try axis("axis", rank: s[0].count)
      let before = attrs.int("before"), after = attrs.int("after")
      if before < 0 || after < 0 { throw ShapeError("pad: negative padding") }
      var out = s[0]
      out[a] += before + after
      return f32(out)

    case .broadcastTo:
      let shape = attrs.ints("shape")
      if !broadcasts(s[0], to: shape) {
        throw ShapeError(
          "broadcast_to: \(shapeText(s[0])) does not broadcast to \(shapeText(shape))")
      }
      return f32(shape)

    case .sumTo:
      let shape = attrs.ints("shape")
      if !broadcasts(shape, to: s[0]) {
        throw ShapeError("sum_to: \(shapeText(shape)) does not broadcast to \(shapeText(s[0]))")
      }
      return f32(shape)

    case .patchify:
      let p = attrs.int("patch")
      guard s[0].count == 4, p > 0, s[0][2] % p == 0, s[0][3] % p == 0 else {
        throw ShapeError(
          "patchify: input \(shapeText(s[0])) is not [B,C,H,W] with H, W multiples of \(p)")
      }
      return f32([s[0][0], (s[0][2] / p) * (s[0][3] / p), s[0][1] * p * p])

    case .reduceSum, .reduceMean:
      let a = try axis("axis", rank: s[0].count)
      var out = s[0]
      if attrs.int("keepdims") != 0 { out[a] = 1 } else { out.remove(at: a) }
      return f32(out)

    case .dropPathMask:
      if !s[0].isEmpty {
        throw ShapeError("drop_path_mask: seed must be i32[], got \(operands[0])")
      }
      let rate = attrs.float("rate")
      if !(0..<1).contains(rate) { throw ShapeError("drop_path_mask: rate \(rate) not in [0, 1)") }
      if attrs.int("batch") < 1 { throw ShapeError("drop_path_mask: batch must be positive") }
      return f32([attrs.int("batch")])

    case .clipGradCoef:
      return .scalar

    case .adamwUpdate:
      for i in 1...3 { try same(0, i, "operand \(i)") }
      for (i, what) in [(4, "step count"), (5, "lr"), (6, "weight decay"), (7, "gate")] {
        try scalar(i, what)
      }
      return .scalar

    case .emaUpdate:
      try same(0, 1, "student")
      try scalar(2, "momentum")
      return .scalar

    case .assign:
      try same(0, 1, "value")
      return .scalar

    case .adamwFlat:
      if s[0].count != 1 { throw ShapeError("adamw_flat: parameters must be one flat region") }
      for (i, what) in [(1, "gradients"), (2, "first moments"), (3, "second moments")] {
        try same(0, i, what)
      }
      if s[4].count != 1 { throw ShapeError("adamw_flat: step counts must be one flat region") }
      for (i, what) in [(5, "lr"), (6, "weight decay"), (7, "gate")] { try scalar(i, what) }
      try segmentTable(s[8])
      return .scalar

    case .emaFlat:
      if s[0].count != 1 { throw ShapeError("ema_flat: the teacher must be one flat region") }
      try same(0, 1, "student")
      try scalar(2, "momentum")
      try segmentTable(s[3])
      return .scalar
    }
  }
}

extension OpKind {
  /// The columns of one row of a flat op's segment table (IR/OPS.md `adamw_flat`).
  public static let segmentTableColumns = 8

  /// Checks that `shape` is a segment table's: [S, 8] with at least one segment.
  func segmentTable(_ shape: [Int]) throws(ShapeError) {
    if shape.count != 2 || shape[1] != Self.segmentTableColumns || shape[0] < 1 {
      throw ShapeError(
        "\(name): the segment table must be f32[S,\(Self.segmentTableColumns)] with S ≥ 1, "
          + "got \(shapeText(shape))")
    }
  }
}
