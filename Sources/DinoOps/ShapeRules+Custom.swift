/// A bespoke shape rule: the result type from the operands, or the first mismatch.
typealias CustomShapeRule = @Sendable (ShapeRuleInput) throws -> TensorType

extension OpKind {
  /// The shape rules of the ops whose `shape` column in `ops.def` is `custom`, by op: the
  /// rules the vocabulary of `ShapeRule` does not cover. `OpTableTests` checks that exactly
  /// those ops have an entry.
  static let customShapeRules: [OpKind: CustomShapeRule] = {
    var rules: [OpKind: CustomShapeRule] = [:]
    for op in [OpKind.constant, .region] {
      rules[op] = { r in
        let name = r.op.name
        guard let declared = r.declared else {
          throw ShapeError("\(name): a leaf needs a declared type")
        }
        if r.op == .region && (declared.rank != 1 || declared.dtype != .f32) {
          throw ShapeError("region: a region is one flat f32[N], got \(declared)")
        }
        if r.op == .constant && r.attrs.floats("data").count != declared.count {
          throw ShapeError(
            "constant: \(r.attrs.floats("data").count) values for type \(declared)")
        }
        return declared
      }
    }

    rules[.matmul] = { r in try r.matmulShape() }
    rules[.matmulGeluBwd] = { r in
      let result = try r.matmulShape()
      if r.s[2] != result.shape {
        throw ShapeError(
          "matmul_gelu_bwd: pre-activation \(shapeText(r.s[2])) differs from "
            + shapeText(result.shape))
      }
      return result
    }

    for op in [OpKind.linear, .linearGelu, .linearGeluOnly, .linearResidual, .linearResidualScaled]
    {
      rules[op] = { r in try r.linearShape() }
    }

    rules[.linearWeightNorm] = { r in try r.linearWeightNormShape() }
    rules[.linearWeightNormBwd] = { r in try r.linearWeightNormBwdShape() }

    rules[.patchEmbed] = { r in
      let s = r.s
      let p = r.attrs.int("patch")
      guard s[0].count == 4, s[1].count == 4, s[2].count == 1, p > 0 else {
        throw ShapeError("patch_embed: expects x [B,C,H,W], weight [D,C,p,p], bias [D]")
      }
      if s[1][1] != s[0][1] || s[1][2] != p || s[1][3] != p || s[2][0] != s[1][0] {
        throw ShapeError(
          "patch_embed: weight \(shapeText(s[1])) and bias \(shapeText(s[2])) do not fit "
            + "input \(shapeText(s[0])) with patch \(p)"
        )
      }
      if s[0][2] % p != 0 || s[0][3] % p != 0 {
        throw ShapeError("patch_embed: image \(s[0][2])x\(s[0][3]) is not a multiple of patch \(p)")
      }
      return r.f32([s[0][0], (s[0][2] / p) * (s[0][3] / p), s[1][0]])
    }

    for op in [OpKind.layerNorm, .layerNormBwd] {
      rules[op] = { r in
        let (s, name) = (r.s, r.op.name)
        let x = r.op == .layerNorm ? 0 : 1
        if r.op == .layerNormBwd { try r.same(0, 1, "x") }
        guard let d = s[x].last else { throw ShapeError("\(name): needs rank >= 1") }
        if s[x + 1] != [d] {
          throw ShapeError("\(name): gamma must be [\(d)], got \(shapeText(s[x + 1]))")
        }
        if r.op == .layerNorm && s[2] != [d] {
          throw ShapeError("layer_norm: beta must be [\(d)], got \(shapeText(s[2]))")
        }
        return r.f32(s[x])
      }
    }

    rules[.layerNormTrain] = { r in
      let (s, name) = (r.s, r.op.name)
      guard let d = s[0].last else { throw ShapeError("\(name): needs rank >= 1") }
      if s[1] != [d] || s[2] != [d] {
        throw ShapeError(
          "\(name): gamma and beta must be [\(d)], got \(shapeText(s[1])), \(shapeText(s[2]))")
      }
      return r.f32(s[0])
    }

    rules[.layerNormGrad] = { r in
      let (s, name) = (r.s, r.op.name)
      try r.same(0, 1, "x")
      guard let d = s[1].last else { throw ShapeError("\(name): needs rank >= 1") }
      let stats = Array(s[1].dropLast()) + [2]
      if s[2] != stats {
        throw ShapeError("\(name): stats must be \(shapeText(stats)), got \(shapeText(s[2]))")
      }
      if s[3] != [d] { throw ShapeError("\(name): gamma must be [\(d)], got \(shapeText(s[3]))") }
      return r.f32(s[1])
    }

    for op in [OpKind.attention, .attentionBwd] {
      rules[op] = { r in
        let (s, name) = (r.s, r.op.name)
        let qkv = r.op == .attention ? 0 : 1
        let heads = r.attrs.int("heads")
        guard s[qkv].count == 3, heads >= 1, s[qkv][2] > 0, s[qkv][2] % (3 * heads) == 0 else {
          throw ShapeError(
            "\(name): qkv must be [B, N, 3·C] with C a multiple of heads \(heads), got "
              + shapeText(s[qkv]))
        }
        let (b, n, c) = (s[qkv][0], s[qkv][1], s[qkv][2] / 3)
        let queries = r.attrs.int("queries")
        guard queries >= 1, queries <= n else {
          throw ShapeError(
            "\(name): queries must be in 1…\(n) (qkv's token count), got \(queries)")
        }
        if r.op == .attention { return r.f32([b, queries, c]) }
        let rows = [b, queries, c]
        if s[0] != rows {
          throw ShapeError("\(name): dy must be \(shapeText(rows)), got \(shapeText(s[0]))")
        }
        if s[2] != rows {
          throw ShapeError("\(name): out must be \(shapeText(rows)), got \(shapeText(s[2]))")
        }
        if s[3] != [b, heads, queries] {
          throw ShapeError(
            "\(name): lse must be \(shapeText([b, heads, queries])), got \(shapeText(s[3]))")
        }
        return r.f32(s[1])
      }
    }

    for op in [OpKind.dinoCrossEntropy, .dinoCrossEntropyBwd] {
      rules[op] = { r in
        let (s, name) = (r.s, r.op.name)
        let first = r.op == .dinoCrossEntropy ? 0 : 1
        if r.op == .dinoCrossEntropyBwd { try r.scalar(0, "dy") }
        let (student, teacher) = (s[first], s[first + 1])
        let views = r.attrs.int("views")
        guard student.count == 2, teacher.count == 2, teacher[0] >= 2, teacher[0] % 2 == 0,
          views >= 2, student[0] / views == teacher[0] / 2, student[0] % views == 0,
          student[1] == teacher[1]
        else {
          throw ShapeError(
            "\(name): expects student logits [views·B, K] and teacher targets [2·B, K] with "
              + "views \(views) ≥ 2, got \(shapeText(student)) and \(shapeText(teacher))")
        }
        let scale = r.attrs.float("scale")
        if !(scale > 0) || !Float(scale).isFinite {
          throw ShapeError("\(name): scale (1/τs) must be positive and finite, got \(scale)")
        }
        return r.op == .dinoCrossEntropy ? .scalar : r.f32(student)
      }
    }

    rules[.result] = { r in
      // The type comes from the producer (`extraResultTypes`), which the verifier checks.
      guard let declared = r.declared, declared.dtype == .f32 else {
        throw ShapeError("result: needs a declared f32 type")
      }
      if r.attrs.int("index") < 1 { throw ShapeError("result: index must be at least 1") }
      return declared
    }

    rules[.layerNormBwdGamma] = { r in
      let (s, name) = (r.s, r.op.name)
      try r.same(0, 1, "x")
      guard let d = s[0].last else { throw ShapeError("\(name): needs rank >= 1") }
      return r.f32([d])
    }

    for op in [OpKind.weightNorm, .weightNormBwdV, .weightNormBwdG] {
      rules[op] = { r in
        let (s, name) = (r.s, r.op.name)
        let v = r.op == .weightNorm ? 0 : 1
        guard s[v].count == 2 else {
          throw ShapeError("\(name): v must be [K,C], got \(shapeText(s[v]))")
        }
        if r.op != .weightNorm { try r.same(0, 1, "v") }
        if r.op != .weightNormBwdG && s[v + 1] != [s[v][0], 1] {
          throw ShapeError("\(name): g must be [\(s[v][0]),1], got \(shapeText(s[v + 1]))")
        }
        return r.f32(r.op == .weightNormBwdG ? [s[v][0], 1] : s[v])
      }
    }

    rules[.reshape] = { r in
      let s = r.s
      let shape = r.attrs.ints("shape")
      if shape.contains(where: { $0 < 0 }) || shape.reduce(1, *) != r.operands[0].count {
        throw ShapeError("reshape: cannot reshape \(shapeText(s[0])) to \(shapeText(shape))")
      }
      return r.f32(shape)
    }

    rules[.permute] = { r in
      let s = r.s
      let perm = r.attrs.ints("perm")
      if perm.sorted() != Array(0..<s[0].count) {
        throw ShapeError("permute: \(perm) is not a permutation of rank \(s[0].count)")
      }
      return r.f32(perm.map { s[0][$0] })
    }

    rules[.concat] = { r in
      let s = r.s
      let a = try r.axis("axis", rank: s[0].count)
      var out = s[0]
      for i in 1..<s.count {
        var x = s[i], y = s[0]
        if x.count == y.count { x[a] = 0; y[a] = 0 }
        if x != y {
          throw ShapeError(
            "concat: operand \(i) \(shapeText(s[i])) does not match \(shapeText(s[0])) "
              + "outside axis \(a)"
          )
        }
        out[a] += s[i][a]
      }
      return r.f32(out)
    }

    rules[.slice] = { r in
      let s = r.s
      let a = try r.axis("axis", rank: s[0].count)
      let start = r.attrs.int("start"), end = r.attrs.int("end")
      if start < 0 || end > s[0][a] || start >= end {
        throw ShapeError(
          "slice: [\(start), \(end)) out of range for axis \(a) of \(shapeText(s[0]))")
      }
      var out = s[0]
      out[a] = end - start
      return r.f32(out)
    }

    rules[.pad] = { r in
      let s = r.s
      let a = try r.axis("axis", rank: s[0].count)
      let before = r.attrs.int("before"), after = r.attrs.int("after")
      if before < 0 || after < 0 { throw ShapeError("pad: negative padding") }
      var out = s[0]
      out[a] += before + after
      return r.f32(out)
    }

    rules[.broadcastTo] = { r in
      let s = r.s
      let shape = r.attrs.ints("shape")
      if !broadcasts(s[0], to: shape) {
        throw ShapeError(
          "broadcast_to: \(shapeText(s[0])) does not broadcast to \(shapeText(shape))")
      }
      return r.f32(shape)
    }

    rules[.sumTo] = { r in
      let s = r.s
      let shape = r.attrs.ints("shape")
      if !broadcasts(shape, to: s[0]) {
        throw ShapeError("sum_to: \(shapeText(shape)) does not broadcast to \(shapeText(s[0]))")
      }
      return r.f32(shape)
    }

    rules[.patchify] = { r in
      let s = r.s
      let p = r.attrs.int("patch")
      guard s[0].count == 4, p > 0, s[0][2] % p == 0, s[0][3] % p == 0 else {
        throw ShapeError(
          "patchify: input \(shapeText(s[0])) is not [B,C,H,W] with H, W multiples of \(p)")
      }
      return r.f32([s[0][0], (s[0][2] / p) * (s[0][3] / p), s[0][1] * p * p])
    }

    rules[.dropPathMask] = { r in
      let s = r.s
      if !s[0].isEmpty {
        throw ShapeError("drop_path_mask: seed must be i32[], got \(r.operands[0])")
      }
      let rate = r.attrs.float("rate")
      if !(0..<1).contains(rate) { throw ShapeError("drop_path_mask: rate \(rate) not in [0, 1)") }
      if r.attrs.int("batch") < 1 { throw ShapeError("drop_path_mask: batch must be positive") }
      return r.f32([r.attrs.int("batch")])
    }

    rules[.adamwUpdate] = { r in
      for i in 1...3 { try r.same(0, i, "operand \(i)") }
      for (i, what) in [(4, "step count"), (5, "lr"), (6, "weight decay"), (7, "gate")] {
        try r.scalar(i, what)
      }
      return .scalar
    }

    rules[.emaUpdate] = { r in
      try r.same(0, 1, "student")
      try r.scalar(2, "momentum")
      return .scalar
    }

    rules[.assign] = { r in
      try r.same(0, 1, "value")
      return .scalar
    }

    rules[.adamwFlat] = { r in
      let s = r.s
      if s[0].count != 1 { throw ShapeError("adamw_flat: parameters must be one flat region") }
      for (i, what) in [(1, "gradients"), (2, "first moments"), (3, "second moments")] {
        try r.same(0, i, what)
      }
      if s[4].count != 1 { throw ShapeError("adamw_flat: step counts must be one flat region") }
      for (i, what) in [(5, "lr"), (6, "weight decay"), (7, "gate")] { try r.scalar(i, what) }
      try r.op.segmentTable(s[8])
      return .scalar
    }

    rules[.emaFlat] = { r in
      let s = r.s
      if s[0].count != 1 { throw ShapeError("ema_flat: the teacher must be one flat region") }
      try r.same(0, 1, "student")
      try r.scalar(2, "momentum")
      try r.op.segmentTable(s[3])
      return .scalar
    }
    rules[.eltwiseChain] = { r in
      _ = try EltwiseProgram(encoded: r.attrs.ints("program"), operandCount: r.s.count)
      for (i, shape) in r.s.enumerated().dropFirst() where !broadcasts(shape, to: r.s[0]) {
        throw ShapeError(
          "eltwise_chain: operand \(i) \(shapeText(shape)) does not broadcast to operand 0 "
            + shapeText(r.s[0]))
      }
      return r.f32(r.s[0])
    }

    return rules
  }()

  /// Whether the op has a bespoke rule in `customShapeRules`.
  public var hasCustomShapeRule: Bool { Self.customShapeRules[self] != nil }
}
