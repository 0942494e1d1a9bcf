import DinoIR

extension BackwardEmitter {
  /// The vector-Jacobian product of one forward node, written in IR ops of `ops.def`.
  ///
  /// - Parameters:
  ///   - node: the forward node.
  ///   - result: the value `node` defines (`y`, read by the softmax rules).
  ///   - dy: the gradient of the loss with respect to `result`.
  ///   - wanted: per operand, whether its gradient is needed (differentiable and on a
  ///     path from a selected parameter).
  /// - Returns: `(operand index, gradient)` for each wanted operand; each gradient has
  ///   that operand's type.
  mutating func vjp(
    of node: Node, result: ValueID, dy: ValueID, wanted: [Bool]
  ) throws(CompileError) -> [(Int, ValueID)] {
    let x = node.operands
    var grads: [(Int, ValueID)] = []
    func give(_ index: Int, _ gradient: () throws(CompileError) -> ValueID) throws(CompileError) {
      if wanted[index] { grads.append((index, try gradient())) }
    }
    switch node.op {
    case .input, .parameter, .constant, .geluBwd, .layerNormBwd, .layerNormBwdGamma,
      .layerNormTrain, .layerNormGrad, .linearGelu, .linearGeluOnly, .linearResidual,
      .linearResidualScaled, .matmulGeluBwd, .result, .attention, .attentionBwd,
      .linearWeightNorm, .linearWeightNormBwd,
      .dinoCrossEntropyBwd, .eltwiseChain,
      .l2NormalizeBwd, .weightNormBwdV, .weightNormBwdG, .softmaxBwd, .logSoftmaxBwd,
      .patchify, .dropPathMask, .clipGradCoef, .adamwUpdate, .emaUpdate, .assign,
      .region, .adamwFlat, .emaFlat, .allReduceSum:
      break

    case .matmul:
      try matmulVJP(node, dy: dy, wanted: wanted, into: &grads)

    case .linear:
      // y = x·wᵀ + b over the rows of x.
      try give(0) { () throws(CompileError) in
        if shape(x[0]).count >= 2 { return try matmul(dy, x[1], transA: false, transB: false) }
        return try reshape(
          matmul(rows(dy), x[1], transA: false, transB: false), shape(x[0]))
      }
      try give(1) { () throws(CompileError) in
        try matmul(rows(dy), rows(x[0]), transA: true, transB: false)
      }
      try give(2) { () throws(CompileError) in try sumTo(dy, shape(x[2])) }

    case .patchEmbed:
      // y = patchify(x)·w.reshape(D, C·p·p)ᵀ + b; the image x gets no gradient.
      try give(1) { () throws(CompileError) in
        let patches = try emit(.patchify, [x[0]], ["patch": .int(node.attrs.int("patch"))])
        let flat = try matmul(rows(dy), rows(patches), transA: true, transB: false)
        return try reshape(flat, shape(x[1]))
      }
      try give(2) { () throws(CompileError) in try sumTo(dy, shape(x[2])) }

    case .add:
      try give(0) { dy }
      try give(1) { () throws(CompileError) in try sumTo(dy, shape(x[1])) }

    case .sub:
      try give(0) { dy }
      try give(1) { () throws(CompileError) in try scale(sumTo(dy, shape(x[1])), -1) }

    case .mul:
      try give(0) { () throws(CompileError) in try emit(.mul, [dy, x[1]]) }
      try give(1) { () throws(CompileError) in try sumTo(emit(.mul, [dy, x[0]]), shape(x[1])) }

    case .div:
      // d(a/b)/da = 1/b;  d(a/b)/db = −a/b².
      try give(0) { () throws(CompileError) in try emit(.div, [dy, x[1]]) }
      try give(1) { () throws(CompileError) in
        let quotient = try emit(.div, [emit(.div, [dy, x[1]]), x[1]])
        return try scale(sumTo(emit(.mul, [quotient, x[0]]), shape(x[1])), -1)
      }

    case .scale:
      try give(0) { () throws(CompileError) in try scale(dy, node.attrs.float("factor")) }

    case .gelu:
      try give(0) { () throws(CompileError) in try emit(.geluBwd, [dy, x[0]]) }

    case .log:
      // d ln x / dx = 1/x.
      try give(0) { () throws(CompileError) in try emit(.div, [dy, x[0]]) }

    case .exp:
      // d eˣ / dx = eˣ, the result.
      try give(0) { () throws(CompileError) in try emit(.mul, [dy, result]) }

    case .layerNorm:
      let eps: Attributes = ["eps": node.attrs["eps"] ?? .float(0)]
      try give(0) { () throws(CompileError) in try emit(.layerNormBwd, [dy, x[0], x[1]], eps) }
      try give(1) { () throws(CompileError) in try emit(.layerNormBwdGamma, [dy, x[0]], eps) }
      try give(2) { () throws(CompileError) in try sumTo(dy, shape(x[2])) }

    case .l2Normalize:
      let eps: Attributes = ["eps": node.attrs["eps"] ?? .float(0)]
      try give(0) { () throws(CompileError) in try emit(.l2NormalizeBwd, [dy, x[0]], eps) }

    case .weightNorm:
      try give(0) { () throws(CompileError) in try emit(.weightNormBwdV, [dy, x[0], x[1]]) }
      try give(1) { () throws(CompileError) in try emit(.weightNormBwdG, [dy, x[0]]) }

    case .softmax:
      try give(0) { () throws(CompileError) in try emit(.softmaxBwd, [dy, result]) }

    case .logSoftmax:
      try give(0) { () throws(CompileError) in try emit(.logSoftmaxBwd, [dy, result]) }

    case .dinoCrossEntropy:
      // The closed form (n_v·softmax(scale·s) − Σ q)·scale/(pairs·B); the targets are
      // constants to the loss (operand 1 gets no gradient).
      let attrs: Attributes = [
        "views": node.attrs["views"] ?? .int(0), "scale": node.attrs["scale"] ?? .float(0),
      ]
      try give(0) { () throws(CompileError) in
        try emit(.dinoCrossEntropyBwd, [dy, x[0], x[1]], attrs)
      }

    case .reshape:
      try give(0) { () throws(CompileError) in try reshape(dy, shape(x[0])) }

    case .permute:
      let perm = node.attrs.ints("perm")
      var inverse = perm
      for (position, axis) in perm.enumerated() { inverse[axis] = position }
      try give(0) { () throws(CompileError) in try emit(.permute, [dy], ["perm": .ints(inverse)]) }

    case .concat:
      let axis = node.attrs.int("axis")
      var start = 0
      for (index, operand) in x.enumerated() {
        let end = start + shape(operand)[axis]
        try give(index) { () throws(CompileError) in
          try emit(.slice, [dy], ["axis": .int(axis), "start": .int(start), "end": .int(end)])
        }
        start = end
      }

    case .slice:
      let axis = node.attrs.int("axis")
      let extent = shape(x[0])[axis]
      let before = node.attrs.int("start")
      let after = extent - node.attrs.int("end")
      try give(0) { () throws(CompileError) in
        try emit(.pad, [dy], ["axis": .int(axis), "before": .int(before), "after": .int(after)])
      }

    case .pad:
      let axis = node.attrs.int("axis")
      let before = node.attrs.int("before")
      let end = before + shape(x[0])[axis]
      try give(0) { () throws(CompileError) in
        try emit(.slice, [dy], ["axis": .int(axis), "start": .int(before), "end": .int(end)])
      }

    case .broadcastTo:
      try give(0) { () throws(CompileError) in try sumTo(dy, shape(x[0])) }

    case .reduceSum, .reduceMean:
      let axis = node.attrs.int("axis")
      let inputShape = shape(x[0])
      var kept = inputShape
      kept[axis] = 1
      try give(0) { () throws(CompileError) in
        var gradient = try reshape(dy, kept)
        if node.op == .reduceMean { gradient = try scale(gradient, 1 / Double(inputShape[axis])) }
        return try broadcastTo(gradient, inputShape)
      }

    case .sumTo:
      try give(0) { () throws(CompileError) in try broadcastTo(dy, shape(x[0])) }
    }
    return grads
  }

  /// The VJP of `matmul {trans_a, trans_b}`: with A = op(a), B = op(b) and Y = A·B,
  /// dA = dY·Bᵀ and dB = Aᵀ·dY, transposed back where the operand was. When b is a shared
  /// 2-D matrix under a batched a, dB also sums over the batch: the rows of a and dY are
  /// folded into one matrix product (or, for a transposed a, the batched product is summed).
  private mutating func matmulVJP(
    _ node: Node, dy: ValueID, wanted: [Bool], into grads: inout [(Int, ValueID)]
  ) throws(CompileError) {
    let a = node.operands[0]
    let b = node.operands[1]
    let transA = node.attrs.int("trans_a") != 0
    let transB = node.attrs.int("trans_b") != 0
    let sharedB = shape(b).count == 2 && shape(a).count > 2
    if wanted[0] {
      let da: ValueID
      if !transA {
        da = try matmul(dy, b, transA: false, transB: !transB)
      } else if !sharedB {
        da = try matmul(b, dy, transA: transB, transB: true)
      } else {
        da = try transposeLastTwo(matmul(dy, b, transA: false, transB: !transB))
      }
      grads.append((0, da))
    }
    if wanted[1] {
      let db: ValueID
      if !sharedB {
        db =
          transB
          ? try matmul(dy, a, transA: true, transB: transA)
          : try matmul(a, dy, transA: !transA, transB: false)
      } else if !transA {
        let a2 = try rows(a)
        let dy2 = try rows(dy)
        db =
          transB
          ? try matmul(dy2, a2, transA: true, transB: false)
          : try matmul(a2, dy2, transA: true, transB: false)
      } else {
        let batched =
          transB
          ? try matmul(dy, a, transA: true, transB: true)
          : try matmul(a, dy, transA: false, transB: false)
        let s = shape(batched)
        let stacked = try reshape(
          batched, [s.dropLast(2).reduce(1, *), s[s.count - 2], s[s.count - 1]])
        db = try emit(.reduceSum, [stacked], ["axis": .int(0), "keepdims": .int(0)])
      }
      grads.append((1, db))
    }
  }
}
