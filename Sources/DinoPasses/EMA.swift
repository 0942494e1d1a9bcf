import DinoIR

/// Builds the `ema` program: teacher ← m·teacher + (1−m)·student for every teacher buffer
/// with a student twin (weight-norm `g` and `v` separately, as official DINO's
/// `zip(student.parameters(), teacher.parameters())`), with the momentum `m` as the scalar
/// input `momentum`. It is a program of its own, never part of the gradient graph.
/// A graph without teacher buffers, or one that already has an `ema` program (IR given at a
/// later stage, or a model that writes its own), is returned unchanged.
public func buildEMA(_ graph: Graph) throws(CompileError) -> Graph {
  if graph.programIndex("ema") != nil { return graph }
  let buffers = graph.buffers()
  let byName = Dictionary(uniqueKeysWithValues: buffers.map { ($0.name, $0) })
  let pairs = buffers.filter { $0.region == "teacher" }.compactMap {
    teacher -> (BufferInfo, BufferInfo)? in
    guard let student = byName["student" + teacher.name.dropFirst("teacher".count)] else {
      return nil
    }
    return (teacher, student)
  }
  if pairs.isEmpty { return graph }
  var program = Program(name: "ema")
  let momentum = program.append(
    Node(.input, attrs: ["name": .string("momentum")], type: .scalar, scope: "ema"))
  for (teacher, student) in pairs {
    if teacher.type != student.type {
      throw CompileError(
        "ema: \(teacher.name) is \(teacher.type) but \(student.name) is \(student.type)")
    }
    func load(_ buffer: BufferInfo) -> ValueID {
      program.append(
        Node(
          .parameter,
          attrs: [
            "name": .string(buffer.name), "init": .string(buffer.initSpec),
            "trainable": .int(buffer.trainable ? 1 : 0),
          ],
          type: buffer.type, scope: "ema"))
    }
    let t = load(teacher), s = load(student)
    program.append(Node(.emaUpdate, [t, s, momentum], type: .scalar, scope: "ema"))
  }
  var graph = graph
  graph.programs.append(program)
  return graph
}
