import DinoIR
import DinoRandom
import XCTest

/// Graphs for the pass tests: a small MLP training step written as IR text, and seeded
/// random DAGs with leaves, broadcasting, in-place-capable ops and effect ops.
enum PassFixtures {
  /// An MLP training step (forward, a hand-written backward, AdamW on three weights, a
  /// center update), an EMA program and a features program.
  static let mlpText = """
    #dino-ir v1 stage=captured
    file "mlp.swift"
    hyper batch=8

    program @train_step {
      %0 = input {name="x"} : f32[8,16]  @ :1:1
      %1 = input {name="lr"} : f32[]
      %2 = input {name="wd"} : f32[]
      %3 = input {name="last_layer_gate"} : f32[]
      scope student.fc1
      %4 = parameter {init="trunc_normal(0.02,-2,2)", name="student.fc1.weight", trainable=1} : f32[32,16]
      %5 = parameter {init="zeros", name="student.fc1.bias", trainable=1} : f32[32]
      %6 = linear(%0, %4, %5) : f32[8,32]  @ :5:3
      %7 = gelu(%6) : f32[8,32]  @ :6:3
      scope student.fc2
      %8 = parameter {init="trunc_normal(0.02,-2,2)", name="student.fc2.weight", trainable=1} : f32[32,32]
      %9 = parameter {init="zeros", name="student.fc2.bias", trainable=1} : f32[32]
      %10 = linear(%7, %8, %9) : f32[8,32]  @ :7:3
      %11 = add(%10, %6) : f32[8,32]  @ ~:7:3
      scope student.norm
      %12 = parameter {init="ones", name="student.norm.weight", trainable=1} : f32[32]
      %13 = parameter {init="zeros", name="student.norm.bias", trainable=1} : f32[32]
      %14 = layer_norm(%11, %12, %13) {eps=1e-06} : f32[8,32]  @ :8:3
      scope student.head.last_layer
      %15 = parameter {init="trunc_normal(0.02,-2,2)", name="student.head.last_layer.weight", trainable=1} : f32[10,32]
      %16 = parameter {init="zeros", name="student.head.last_layer.bias", trainable=1} : f32[10]
      %17 = linear(%14, %15, %16) : f32[8,10]  @ :9:3
      scope ""
      %18 = scale(%17) {factor=10.0} : f32[8,10]  @ :10:3
      %19 = log_softmax(%18) : f32[8,10]  @ :11:3
      %20 = reduce_mean(%19) {axis=1, keepdims=0} : f32[8]  @ :12:3
      %21 = reduce_mean(%20) {axis=0, keepdims=0} : f32[]  @ :12:3
      %22 = scale(%21) {factor=-1.0} : f32[]  @ :12:3
      %23 = softmax(%18) : f32[8,10]  @ :11:3 bw
      %24 = log_softmax_bwd(%23, %19) : f32[8,10]  @ :11:3 bw
      %25 = matmul(%24, %15) {trans_a=0, trans_b=0} : f32[8,32]  @ :9:3 bw
      %26 = matmul(%24, %14) {trans_a=1, trans_b=0} : f32[10,32]  @ :9:3 bw
      %27 = layer_norm_bwd(%25, %11, %12) {eps=1e-06} : f32[8,32]  @ :8:3 bw
      %28 = matmul(%27, %8) {trans_a=0, trans_b=0} : f32[8,32]  @ :7:3 bw
      %29 = matmul(%27, %7) {trans_a=1, trans_b=0} : f32[32,32]  @ :7:3 bw
      %30 = gelu_bwd(%28, %6) : f32[8,32]  @ :6:3 bw
      %31 = add(%30, %27) : f32[8,32]  @ :6:3 bw
      %32 = matmul(%31, %0) {trans_a=1, trans_b=0} : f32[32,16]  @ :5:3 bw
      %33 = constant {data=[1.0]} : f32[]
      scope optimizer.student.fc1.weight
      %34 = clip_grad_coef(%32) {max_norm=3.0} : f32[]
      %35 = mul(%32, %34) : f32[32,16]
      %36 = parameter {init="zeros", name="adam_m.fc1.weight", trainable=0} : f32[32,16]
      %37 = parameter {init="zeros", name="adam_v.fc1.weight", trainable=0} : f32[32,16]
      %38 = parameter {init="zeros", name="adam_step.fc1.weight", trainable=0} : f32[]
      %39 = adamw_update(%4, %35, %36, %37, %38, %1, %2, %33) {beta1=0.9, beta2=0.999, decay=1, eps=1e-08} : f32[]
      scope optimizer.student.fc2.weight
      %40 = clip_grad_coef(%29) {max_norm=3.0} : f32[]
      %41 = mul(%29, %40) : f32[32,32]
      %42 = parameter {init="zeros", name="adam_m.fc2.weight", trainable=0} : f32[32,32]
      %43 = parameter {init="zeros", name="adam_v.fc2.weight", trainable=0} : f32[32,32]
      %44 = parameter {init="zeros", name="adam_step.fc2.weight", trainable=0} : f32[]
      %45 = adamw_update(%8, %41, %42, %43, %44, %1, %2, %33) {beta1=0.9, beta2=0.999, decay=1, eps=1e-08} : f32[]
      scope optimizer.student.head.last_layer.weight
      %46 = clip_grad_coef(%26) {max_norm=3.0} : f32[]
      %47 = mul(%26, %46) : f32[10,32]
      %48 = parameter {init="zeros", name="adam_m.head.last_layer.weight", trainable=0} : f32[10,32]
      %49 = parameter {init="zeros", name="adam_v.head.last_layer.weight", trainable=0} : f32[10,32]
      %50 = parameter {init="zeros", name="adam_step.head.last_layer.weight", trainable=0} : f32[]
      %51 = adamw_update(%15, %47, %48, %49, %50, %1, %2, %3) {beta1=0.9, beta2=0.999, decay=1, eps=1e-08} : f32[]
      scope center
      %52 = parameter {init="zeros", name="center", trainable=0} : f32[1,10]
      %53 = reduce_mean(%17) {axis=0, keepdims=1} : f32[1,10]
      %54 = scale(%53) {factor=0.1} : f32[1,10]
      %55 = scale(%52) {factor=0.9} : f32[1,10]
      %56 = add(%55, %54) : f32[1,10]
      %57 = assign(%52, %56) : f32[]
      %58 = gelu(%56) : f32[1,10]
      return loss=%22
    }

    program @ema {
      %0 = input {name="momentum"} : f32[]
      %1 = parameter {init="copy(student.fc1.weight)", name="teacher.fc1.weight", trainable=0} : f32[32,16]
      %2 = parameter {init="trunc_normal(0.02,-2,2)", name="student.fc1.weight", trainable=1} : f32[32,16]
      %3 = ema_update(%1, %2, %0) : f32[]
      return
    }

    program @features {
      %0 = input {name="x"} : f32[8,16]
      %1 = parameter {init="copy(student.fc1.weight)", name="teacher.fc1.weight", trainable=0} : f32[32,16]
      %2 = parameter {init="zeros", name="teacher.fc1.bias", trainable=0} : f32[32]
      %3 = linear(%0, %1, %2) : f32[8,32]
      %4 = gelu(%3) : f32[8,32]
      %5 = scale(%4) {factor=2.0} : f32[8,32]
      %6 = softmax(%5) : f32[8,32]
      %7 = l2_normalize(%6) {eps=1e-06} : f32[8,32]
      return features=%7
    }
    """

  /// The MLP graph, parsed.
  static func mlp() throws -> Graph { try parseIR(mlpText, fileName: "mlp.ir") }

  /// Gives every node a location whose line is its index + 1, so a reordered program can
  /// be mapped back to the original.
  static func tagged(_ graph: Graph) -> Graph {
    var graph = graph
    for p in graph.programs.indices {
      for i in graph.programs[p].nodes.indices {
        graph.programs[p].nodes[i].loc = SourceLoc(file: "tag.swift", line: i + 1, column: 1)
      }
    }
    return graph
  }

  /// A seeded random program of about `size` nodes: leaves of several kinds, element-wise
  /// ops (many of them in-place capable), broadcasting, reductions, matmuls, concats,
  /// reshapes, and `assign`/`ema_update` effects on parameters that other nodes read.
  static func randomGraph(seed: UInt64, size: Int) -> Graph {
    var rng = SplitMix64(seed: seed)
    var program = Program(name: "random")
    var values: [ValueID] = []  // non-effect values
    var parameters: [ValueID] = []
    let shapes: [[Int]] = [[4, 8], [8, 8], [2, 16], [16], [3, 5], [8, 4]]
    func pick<T>(_ xs: [T]) -> T { xs[Int(rng.next() % UInt64(xs.count))] }
    func coin(_ p: Double) -> Bool { Double(rng.next() % 1000) / 1000 < p }
    func type(_ v: ValueID) -> TensorType { program[v].type }
    func add(_ node: Node) -> ValueID {
      let id = program.append(node)
      if !node.op.isEffect { values.append(id) }
      if node.op == .parameter { parameters.append(id) }
      return id
    }
    func leaf(_ shape: [Int]) -> ValueID {
      let t = TensorType(.f32, shape)
      switch rng.next() % 3 {
      case 0:
        return add(Node(.input, attrs: ["name": .string("in\(program.nodes.count)")], type: t))
      case 1:
        let name = "student.\(shape.map(String.init).joined(separator: "x")).\(rng.next() % 3)"
        if let existing = parameters.first(where: { program[$0].attrs.string("name") == name }),
          coin(0.5)
        {
          return existing
        }
        return add(
          Node(
            .parameter,
            attrs: ["name": .string(name), "init": .string("zeros"), "trainable": .int(1)], type: t)
        )
      default:
        let data = (0..<t.count).map { Float($0 % 7) * 0.5 }
        return add(Node(.constant, attrs: ["data": .floats(data)], type: t))
      }
    }
    func operand(_ shape: [Int]) -> ValueID {
      let same = values.filter { type($0).shape == shape }
      return !same.isEmpty && coin(0.8) ? pick(same) : leaf(shape)
    }
    for shape in shapes.prefix(3) { _ = leaf(shape) }
    for _ in 0..<size {
      let x = values.isEmpty ? leaf(pick(shapes)) : pick(values)
      let t = type(x)
      switch rng.next() % 12 {
      case 0, 1:
        let op: OpKind = pick([.add, .sub, .mul, .div])
        var second = t.shape
        if coin(0.3), let last = t.shape.last { second = [last] }
        _ = add(Node(op, [x, operand(second)], type: t))
      case 2:
        _ = add(Node(pick([OpKind.gelu, .softmax, .logSoftmax]), [x], type: t))
      case 3:
        _ = add(Node(.scale, [x], attrs: ["factor": .float(0.5)], type: t))
      case 4 where t.rank >= 1:
        var shape = t.shape
        shape[shape.count - 1] = 1
        _ = add(
          Node(
            .reduceSum, [x], attrs: ["axis": .int(t.rank - 1), "keepdims": .int(1)],
            type: TensorType(.f32, shape)))
      case 5 where t.rank == 2:
        let n = pick([4, 8])
        let w = operand([t.shape[1], n])
        _ = add(
          Node(
            .matmul, [x, w], attrs: ["trans_a": .int(0), "trans_b": .int(0)],
            type: TensorType(.f32, [t.shape[0], n])))
      case 6 where t.rank >= 1:
        let y = operand(t.shape)
        var shape = t.shape
        shape[0] *= 2
        _ = add(Node(.concat, [x, y], attrs: ["axis": .int(0)], type: TensorType(.f32, shape)))
      case 7:
        _ = add(
          Node(.reshape, [x], attrs: ["shape": .ints([t.count])], type: TensorType(.f32, [t.count]))
        )
      case 8 where !parameters.isEmpty:
        let p = pick(parameters)
        _ = add(Node(.assign, [p, operand(type(p).shape)], type: .scalar))
      case 9 where !parameters.isEmpty:
        let p = pick(parameters)
        let s = leaf(type(p).shape)
        let m = leaf([])
        if program[s].op == .parameter
          && program[s].attrs.string("name") != program[p].attrs.string("name")
          && program[m].op != .parameter
        {
          _ = add(Node(.emaUpdate, [p, s, m], type: .scalar))
        }
      case 10 where !parameters.isEmpty:
        _ = add(
          Node(
            .mul, [operand(type(parameters.last!).shape), parameters.last!],
            type: type(parameters.last!)))
      default:
        _ = add(Node(.gelu, [x], type: t))
      }
    }
    let candidates = values.filter { !program[$0].op.isLeaf }
    for k in 0..<min(3, candidates.count) {
      program.outputs.append(ProgramOutput(name: "out\(k)", value: pick(candidates)))
    }
    var seen = Set<ValueID>()
    program.outputs.removeAll { !seen.insert($0.value).inserted }
    return Graph(programs: [program])
  }
}

/// Asserts that `scheduled` computes what `original` does: both tagged by
/// `PassFixtures.tagged`, the same nodes with corresponding operands, the same outputs,
/// and the same relative order of every two accesses to one buffer when either writes it.
func assertSameComputation(
  _ original: Program, _ scheduled: Program, file: StaticString = #filePath, line: UInt = #line
) {
  XCTAssertEqual(original.nodes.count, scheduled.nodes.count, "node count", file: file, line: line)
  let oldIndex = scheduled.nodes.map { $0.loc.line - 1 }
  XCTAssertEqual(
    Set(oldIndex), Set(original.nodes.indices), "not a permutation", file: file, line: line)
  var newIndex = Array(repeating: -1, count: original.nodes.count)
  for (k, old) in oldIndex.enumerated() where old >= 0 && old < newIndex.count { newIndex[old] = k }
  for (k, node) in scheduled.nodes.enumerated() {
    let old = original.nodes[oldIndex[k]]
    XCTAssertEqual(node.op, old.op, file: file, line: line)
    XCTAssertEqual(node.attrs, old.attrs, file: file, line: line)
    XCTAssertEqual(
      node.operands.map { oldIndex[$0.index] }, old.operands.map(\.index), file: file, line: line)
    for operand in node.operands {
      XCTAssertLessThan(operand.index, k, "not topological", file: file, line: line)
    }
  }
  XCTAssertEqual(
    scheduled.outputs.map { "\($0.name)=\(oldIndex[$0.value.index])" },
    original.outputs.map { "\($0.name)=\($0.value.index)" }, file: file, line: line)
  // Buffer accesses: (node, writes?) per buffer name, in original order.
  var accesses: [String: [(Int, Bool)]] = [:]
  for (i, node) in original.nodes.enumerated() {
    for (position, operand) in node.operands.enumerated() {
      guard let name = original[operand].bufferName else { continue }
      accesses[name, default: []].append((i, node.op.mutatedOperands.contains(position)))
    }
  }
  for (name, list) in accesses {
    for a in list.indices {
      for b in list.indices where a < b && (list[a].1 || list[b].1) && list[a].0 != list[b].0 {
        XCTAssertLessThan(
          newIndex[list[a].0], newIndex[list[b].0],
          "accesses %\(list[a].0) and %\(list[b].0) of \(name) swapped", file: file, line: line)
      }
    }
  }
}
