@_exported import DinoOps

/// The SSA name of a value inside one program: node `i` defines value `%i`.
public struct ValueID: Hashable, Comparable, Sendable, CustomStringConvertible {
  /// The dense index of the defining node.
  public var index: Int
  /// Creates an id.
  public init(_ index: Int) { self.index = index }
  /// Orders by definition.
  public static func < (a: ValueID, b: ValueID) -> Bool { a.index < b.index }
  /// `%12`.
  public var description: String { "%\(index)" }
}

/// Where a transient value lives in its program's arena, after `planMemory`.
public struct MemorySlot: Hashable, Sendable {
  /// Byte offset in the arena (0 when the value lives in `buffer`).
  public var offset: Int
  /// Byte size reserved.
  public var size: Int
  /// The persistent buffer the value is computed into instead of the arena (a gradient's
  /// `grad.<name>` buffer, placed by `planMemory`); `nil` for an arena slot.
  public var buffer: String?
  /// Creates a slot.
  public init(offset: Int, size: Int, buffer: String? = nil) {
    self.offset = offset
    self.size = size
    self.buffer = buffer
  }
}

/// One op application; defines one value (an op with several results defines the others
/// through the `result` nodes that follow it).
public struct Node: Hashable, Sendable {
  /// The op.
  public var op: OpKind
  /// Operands, all defined earlier in the same program.
  public var operands: [ValueID]
  /// Attributes, matching the op's schema in ops.def.
  public var attrs: Attributes
  /// The result type (`f32[]` for effect ops).
  public var type: TensorType
  /// The model.swift location (backward nodes keep their forward node's).
  public var loc: SourceLoc
  /// The model.swift locations of the nodes a fused node absorbed besides its own `loc`
  /// (distinct, in graph order; empty for nodes the `fuse` pass did not make). Printed
  /// `@ :9:12 + :10:8`, carried in plan.bin, named by the non-finite check.
  public var absorbed: [SourceLoc]
  /// Layer scope path, empty at top level.
  public var scope: String
  /// True for nodes made by `differentiate` (printed `bw`).
  public var isBackward: Bool
  /// Arena placement, set by `planMemory` for transient values.
  public var slot: MemorySlot?

  /// Creates a node.
  public init(
    _ op: OpKind, _ operands: [ValueID] = [], attrs: Attributes = [:], type: TensorType,
    loc: SourceLoc = .unknown, absorbed: [SourceLoc] = [], scope: String = "",
    isBackward: Bool = false, slot: MemorySlot? = nil
  ) {
    self.absorbed = absorbed
    self.op = op
    self.operands = operands
    self.attrs = attrs
    self.type = type
    self.loc = loc
    self.scope = scope
    self.isBackward = isBackward
    self.slot = slot
  }

  /// Its own location, then the absorbed ones: every model.swift line it computes.
  public var locations: [SourceLoc] { loc == .unknown ? absorbed : [loc] + absorbed }

  /// The persistent buffer a `parameter` node names, else `nil`.
  public var bufferName: String? { op == .parameter ? attrs.string("name") : nil }
}

/// A named result of a program.
public struct ProgramOutput: Hashable, Sendable {
  /// The name (`loss`).
  public var name: String
  /// The value.
  public var value: ValueID
  /// Creates an output.
  public init(name: String, value: ValueID) {
    self.name = name
    self.value = value
  }
}

/// A straight-line SSA program: the schedule is the node order.
public struct Program: Hashable, Sendable {
  /// `@train_step`, `@ema`, `@forward`, …
  public var name: String
  /// The nodes; node i defines `%i`.
  public var nodes: [Node]
  /// Named results.
  public var outputs: [ProgramOutput]
  /// Arena bytes, set by `planMemory`.
  public var arenaBytes: Int?

  /// Creates a program.
  public init(
    name: String, nodes: [Node] = [], outputs: [ProgramOutput] = [], arenaBytes: Int? = nil
  ) {
    self.name = name
    self.nodes = nodes
    self.outputs = outputs
    self.arenaBytes = arenaBytes
  }

  /// The node defining `id`.
  public subscript(id: ValueID) -> Node {
    get { nodes[id.index] }
    set { nodes[id.index] = newValue }
  }

  /// Appends a node and returns the value it defines.
  @discardableResult
  public mutating func append(_ node: Node) -> ValueID {
    nodes.append(node)
    return ValueID(nodes.count - 1)
  }

  /// The values each value is read by, indexed by value.
  public func users() -> [[ValueID]] {
    var users = Array(repeating: [ValueID](), count: nodes.count)
    for (i, node) in nodes.enumerated() {
      for operand in node.operands where operand.index < nodes.count {
        users[operand.index].append(ValueID(i))
      }
    }
    return users
  }
}

/// A persistent buffer: parameters, teacher weights, optimiser state, the center.
/// Named `<region>.<path>`; the region is the first path component.
public struct BufferInfo: Hashable, Sendable {
  /// Full name, e.g. `student.backbone.blocks.0.attn.qkv.weight`.
  public var name: String
  /// Its type.
  public var type: TensorType
  /// Init spec (`zeros`, `ones`, `trunc_normal(0.02,-2,2)`, `uniform(-0.0625,0.0625)`, `copy(student.x)`).
  public var initSpec: String
  /// Whether the optimiser updates it.
  public var trainable: Bool
  /// `student`, `teacher`, `adam_m`, `adam_v`, `adam_step`, `center`, …
  public var region: String { String(name.prefix { $0 != "." }) }
}

/// A compilation unit: programs over one table of persistent buffers.
public struct Graph: Hashable, Sendable {
  /// The programs, in declaration order.
  public var programs: [Program]
  /// Numeric hyper-parameters carried to the runtime (schedules, crop geometry, batch).
  public var hyper: [String: Double]
  /// Free-form metadata (model name, source hash, compiler version).
  public var metadata: [String: String]
  /// The last pass that ran (`captured`, `autodiff`, …), printed in the header.
  public var stage: String

  /// Creates a graph.
  public init(
    programs: [Program] = [], hyper: [String: Double] = [:], metadata: [String: String] = [:],
    stage: String = "captured"
  ) {
    self.programs = programs
    self.hyper = hyper
    self.metadata = metadata
    self.stage = stage
  }

  /// The program named `name`.
  public func program(_ name: String) -> Program? { programs.first { $0.name == name } }

  /// Index of the program named `name`.
  public func programIndex(_ name: String) -> Int? { programs.firstIndex { $0.name == name } }

  /// The persistent buffers named by `parameter` nodes, sorted by first appearance
  /// (program order, then node order). Types and init specs agree (the verifier checks).
  public func buffers() -> [BufferInfo] {
    var seen: [String: Int] = [:]
    var result: [BufferInfo] = []
    for program in programs {
      for node in program.nodes where node.op == .parameter {
        let name = node.attrs.string("name")
        if seen[name] != nil { continue }
        seen[name] = result.count
        result.append(
          BufferInfo(
            name: name, type: node.type, initSpec: node.attrs.string("init"),
            trainable: node.attrs.int("trainable") != 0))
      }
    }
    return result
  }
}
