import CDinoKernels
import DinoIR

/// One program lowered for `dino_exec`: its tensor table (node `i` is tensor `i`), its
/// instructions (computed nodes only) and its execution context, in memory that stays put.
final class CompiledProgram {
  /// The program's name.
  let name: String
  /// The tensor table, one entry per node.
  let tensors: UnsafeMutablePointer<dino_tensor>
  /// Its length.
  let tensorCount: Int
  /// The instructions, in node order.
  let instrs: UnsafeMutablePointer<dino_instr>
  /// Their count.
  let instrCount: Int
  /// The context passed to `dino_exec`.
  let context: UnsafeMutablePointer<dino_exec_ctx>
  /// The node each instruction computes (for error messages).
  let nodeOfInstr: [Int]
  /// The input stores the program reads.
  let inputStores: [Int]
  /// The input store of each `input` node, by node index.
  let inputStoreOfNode: [Int: Int]
  /// Named outputs and their node indices.
  let outputs: [(name: String, node: Int)]
  /// How runs share the gradients with other processes (nil: they do not).
  var sharing: GradientSharing?

  /// Lowers `program`.
  /// - Parameters:
  ///   - arena: the program's arena (`arenaBytes` long).
  ///   - dummy: a cell for effect results.
  ///   - constants: each constant's address by program index and node index.
  ///   - runtime: supplies persistent buffers and input stores.
  init(
    _ program: Program, arena: UnsafeMutableRawPointer, dummy: UnsafeMutableRawPointer,
    constants: [[Int: UnsafeMutableRawPointer]], runtime: Runtime
  ) {
    name = program.name
    let programIndex = runtime.graph.programIndex(program.name)!
    tensorCount = program.nodes.count
    tensors = .allocate(capacity: max(tensorCount, 1))
    tensors.initialize(repeating: dino_tensor(), count: max(tensorCount, 1))
    var storeOfNode: [Int: Int] = [:]
    var stores: [Int] = []
    var nodes: [Int] = []
    for (index, node) in program.nodes.enumerated() {
      let data: UnsafeMutableRawPointer
      if node.op == .input {
        let store = runtime.inputsByName[node.attrs.string("name")]!.first {
          runtime.inputs[$0].type == node.type
        }!
        data = runtime.inputs[store].data
        storeOfNode[index] = store
        if !stores.contains(store) { stores.append(store) }
      } else if node.op == .parameter {
        let placement = runtime.placements[runtime.placementIndex[node.attrs.string("name")]!]
        data = runtime.regionBase[placement.region]! + placement.offset
      } else if node.op == .region {
        data = runtime.regionBase[node.attrs.string("name")]!
      } else if node.op == .constant {
        data = constants[programIndex][index]!
      } else {
        if node.op.isEffect {
          data = dummy
        } else if let buffer = node.slot!.buffer {
          let placement = runtime.placements[runtime.placementIndex[buffer]!]
          data = runtime.regionBase[placement.region]! + placement.offset
        } else {
          data = arena + node.slot!.offset
        }
        nodes.append(index)
      }
      tensors[index] = Self.tensor(node.type, data: data)
    }
    inputStoreOfNode = storeOfNode
    inputStores = stores
    nodeOfInstr = nodes
    instrCount = nodes.count
    instrs = .allocate(capacity: max(instrCount, 1))
    instrs.initialize(repeating: dino_instr(), count: max(instrCount, 1))
    for (i, index) in nodes.enumerated() {
      instrs[i] = Self.instruction(program.nodes[index], index: index)
    }
    outputs = program.outputs.map { ($0.name, $0.value.index) }
    context = .allocate(capacity: 1)
    context.initialize(to: dino_exec_ctx())
    context.pointee.tensors = tensors
    context.pointee.n_tensors = Int32(tensorCount)
  }

  deinit {
    tensors.deallocate()
    instrs.deallocate()
    context.deallocate()
  }

  /// The most scratch any instruction asks for.
  func scratchBytes() -> Int {
    var most = 0
    for i in 0..<instrCount { most = max(most, Int(dino_instr_scratch_bytes(instrs + i, tensors))) }
    return most
  }

  /// Gives the context the shared scratch block.
  func attach(scratch: UnsafeMutableRawPointer, bytes: Int) {
    context.pointee.scratch = scratch
    context.pointee.scratch_bytes = bytes
  }

  /// The table entry for a value of `type` at `data`.
  static func tensor(_ type: TensorType, data: UnsafeMutableRawPointer) -> dino_tensor {
    var tensor = dino_tensor()
    tensor.data = data
    tensor.dtype = Int32(type.dtype == .f32 ? DINO_F32 : DINO_I32)
    tensor.rank = Int32(type.rank)
    withUnsafeMutableBytes(of: &tensor.shape) { raw in
      let shape = raw.bindMemory(to: Int64.self)
      for (axis, extent) in type.shape.enumerated() { shape[axis] = Int64(extent) }
    }
    return tensor
  }

  /// The instruction computing `node` (value `index`).
  static func instruction(_ node: Node, index: Int) -> dino_instr {
    var instr = dino_instr()
    instr.op = Int32(node.op.rawValue)
    instr.n_in = Int32(node.operands.count)
    instr.out = Int32(index)
    withUnsafeMutableBytes(of: &instr.in) { raw in
      let slots = raw.bindMemory(to: Int32.self)
      for (i, operand) in node.operands.enumerated() { slots[i] = Int32(operand.index) }
    }
    let attributes = node.kernelAttributes
    withUnsafeMutableBytes(of: &instr.iattr) { raw in
      let slots = raw.bindMemory(to: Int64.self)
      for (i, value) in attributes.ints.enumerated() { slots[i] = value }
    }
    withUnsafeMutableBytes(of: &instr.fattr) { raw in
      let slots = raw.bindMemory(to: Float.self)
      for (i, value) in attributes.floats.enumerated() { slots[i] = value }
    }
    return instr
  }
}
