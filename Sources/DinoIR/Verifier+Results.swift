extension Verifier {
  /// The multi-result rules of node `%index`, or `nil`: a node whose op has k extra results
  /// (`OpKind.extraResultTypes`) is followed directly by `result(%index) {index=1}` …
  /// `{index=k}`, of those types, and a `result` node sits exactly `index` places after
  /// the node it projects (the kernel writes result k into value `%(index+k)`).
  static func resultProblem(of node: Node, index: Int, in program: Program) -> String? {
    if node.op == .result {
      let k = node.attrs.int("index")
      guard let producer = node.operands.first, producer.index == index - k else {
        return "result: %\(index) must project the node \(k) places before it"
      }
      let source = program[producer]
      let extra = source.op.extraResultTypes(
        source.operands.map { program[$0].type }, source.attrs)
      guard k <= extra.count else {
        return "result: \(source.op.name) has no result \(k)"
      }
      if extra[k - 1] != node.type {
        return "result: stored type \(node.type) differs from result \(k) of "
          + "\(source.op.name), \(extra[k - 1])"
      }
      return nil
    }
    let extra = node.op.extraResultTypes(node.operands.map { program[$0].type }, node.attrs)
    for k in extra.indices.map({ $0 + 1 }) {
      let position = index + k
      guard position < program.nodes.count, program.nodes[position].op == .result,
        program.nodes[position].operands == [ValueID(index)],
        program.nodes[position].attrs.int("index") == k
      else {
        return "\(node.op.name): result \(k) must follow as %\(position) = result(%\(index)) "
          + "{index=\(k)}"
      }
    }
    return nil
  }
}
