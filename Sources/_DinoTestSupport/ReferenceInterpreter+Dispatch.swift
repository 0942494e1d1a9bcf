import DinoIR

extension ReferenceInterpreter.Environment {
  /// The value of `node` given its operand values: one exhaustive `switch` over the op
  /// table with no `default`, so a new row of `ops.def` fails the build here.
  mutating func compute(_ node: Node, _ x: [ReferenceTensor]) throws(ReferenceError)
    -> ReferenceTensor
  {
    typealias R = ReferenceInterpreter
    let a = node.attrs
    switch node.op {
    case .input:
      return try input(node)
    case .parameter:
      return try parameter(node)
    case .region:
      return try operand(ValueID(index))
    case .constant:
      let data = a.floats("data")
      if data.count != node.type.count {
        throw fail("\(data.count) values for type \(node.type)")
      }
      return ReferenceTensor(shape: node.type.shape, floats: data)

    case .matmul:
      return R.matmul(x[0], x[1], transA: a.int("trans_a") != 0, transB: a.int("trans_b") != 0)
    case .linear:
      return R.linear(x[0], x[1], x[2])
    case .linearGelu:
      let h = R.linear(x[0], x[1], x[2])
      extraResults[index] = [h]
      return R.map(h, R.gelu)
    case .linearResidual:
      return R.broadcastBinary(R.linear(x[0], x[1], x[2]), x[3], +)
    case .patchEmbed:
      return R.patchEmbed(x[0], x[1], x[2], patch: a.int("patch"))

    case .add:
      return R.broadcastBinary(x[0], x[1], +)
    case .sub:
      return R.broadcastBinary(x[0], x[1], -)
    case .mul:
      return R.broadcastBinary(x[0], x[1], *)
    case .div:
      return R.broadcastBinary(x[0], x[1], /)
    case .scale:
      let factor = a.float("factor")
      return R.map(x[0]) { $0 * factor }
    case .gelu:
      return R.map(x[0], R.gelu)
    case .geluBwd:
      return R.geluBwd(x[0], x[1])

    case .layerNorm:
      return R.layerNorm(x[0], x[1], x[2], eps: a.float("eps"))
    case .layerNormBwd:
      return R.layerNormBwd(x[0], x[1], x[2], eps: a.float("eps"))
    case .layerNormBwdGamma:
      return R.layerNormBwdGamma(x[0], x[1], eps: a.float("eps"))
    case .layerNormTrain:
      let (y, stats) = R.layerNormTrain(x[0], x[1], x[2], eps: a.float("eps"))
      extraResults[index] = [stats]
      return y
    case .layerNormGrad:
      let (dx, dgamma, dbeta) = R.layerNormGrad(x[0], x[1], x[2], x[3])
      extraResults[index] = [dgamma, dbeta]
      return dx
    case .l2Normalize:
      return R.l2Normalize(x[0], eps: a.float("eps"))
    case .l2NormalizeBwd:
      return R.l2NormalizeBwd(x[0], x[1], eps: a.float("eps"))
    case .weightNorm:
      return R.weightNorm(x[0], x[1])
    case .weightNormBwdV:
      return R.weightNormBwdV(x[0], x[1], x[2])
    case .weightNormBwdG:
      return R.weightNormBwdG(x[0], x[1])

    case .softmax:
      return R.softmax(x[0])
    case .attention:
      let (out, probs) = R.attention(x[0], heads: a.int("heads"), scale: a.float("scale"))
      extraResults[index] = [probs]
      return out
    case .attentionBwd:
      return R.attentionBwd(x[0], x[1], x[2], heads: a.int("heads"), scale: a.float("scale"))
    case .softmaxBwd:
      return R.softmaxBwd(x[0], x[1])
    case .logSoftmax:
      return R.logSoftmax(x[0])
    case .logSoftmaxBwd:
      return R.logSoftmaxBwd(x[0], x[1])

    case .reshape:
      return ReferenceTensor(shape: a.ints("shape"), data: x[0].data)
    case .permute:
      return R.permute(x[0], a.ints("perm"))
    case .concat:
      return R.concat(x, axis: a.int("axis"))
    case .slice:
      return R.slice(x[0], axis: a.int("axis"), start: a.int("start"), end: a.int("end"))
    case .pad:
      return R.pad(x[0], axis: a.int("axis"), before: a.int("before"), after: a.int("after"))
    case .broadcastTo:
      return R.broadcast(x[0], to: a.ints("shape"))
    case .patchify:
      return R.patchify(x[0], patch: a.int("patch"))

    case .reduceSum:
      return R.reduce(x[0], axis: a.int("axis"), keepdims: a.int("keepdims") != 0, mean: false)
    case .reduceMean:
      return R.reduce(x[0], axis: a.int("axis"), keepdims: a.int("keepdims") != 0, mean: true)
    case .result:
      let k = a.int("index")
      guard let producer = node.operands.first,
        let results = extraResults[producer.index], k >= 1, k <= results.count
      else { throw fail("operand has no result \(k)") }
      return results[k - 1]
    case .sumTo:
      return R.sum(x[0], to: a.ints("shape"))

    case .dropPathMask:
      guard let seed = Int32(exactly: x[0].data[0]) else {
        throw fail("seed \(x[0].data[0]) is not an i32 value")
      }
      return R.dropPathMask(
        seed: seed, rate: a.float("rate"), stream: a.int("stream"), batch: a.int("batch"))

    case .clipGradCoef:
      return ReferenceTensor(scalar: R.clipGradCoef(x[0], maxNorm: a.float("max_norm")))
    case .adamwUpdate:
      let names = try [0, 2, 3, 4].map { k throws(ReferenceError) in try bufferName(ofOperand: k) }
      let state = R.adamw(
        p: x[0], g: x[1], m: x[2], v: x[3], t: x[4], lr: x[5].data[0], wd: x[6].data[0],
        gate: x[7].data[0], beta1: a.float("beta1"), beta2: a.float("beta2"),
        eps: a.float("eps"), decay: Double(a.int("decay")))
      for (name, value) in zip(names, [state.p, state.m, state.v, state.t]) {
        buffers[name] = value
      }
      return ReferenceTensor(scalar: 0)
    case .emaUpdate:
      let name = try bufferName(ofOperand: 0)
      buffers[name] = R.ema(teacher: x[0], student: x[1], momentum: x[2].data[0])
      return ReferenceTensor(scalar: 0)
    case .assign:
      let name = try bufferName(ofOperand: 0)
      buffers[name] = x[1]
      return ReferenceTensor(scalar: 0)
    case .adamwFlat:
      let names = try [0, 2, 3, 4].map { k throws(ReferenceError) in try bufferName(ofOperand: k) }
      let state = try R.adamwFlat(
        p: x[0], g: x[1], m: x[2], v: x[3], steps: x[4], lr: x[5].data[0], wd: x[6].data[0],
        gate: x[7].data[0], table: x[8], maxNorm: a.float("max_norm"), beta1: a.float("beta1"),
        beta2: a.float("beta2"), eps: a.float("eps"))
      for (name, value) in zip(names, [state.p, state.m, state.v, state.steps]) {
        buffers[name] = value
      }
      return ReferenceTensor(scalar: 0)
    case .emaFlat:
      let name = try bufferName(ofOperand: 0)
      buffers[name] = try R.emaFlat(
        teacher: x[0], student: x[1], momentum: x[2].data[0], table: x[3])
      return ReferenceTensor(scalar: 0)
    }
  }
}
