#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif
import CDinoKernels
import DinoIR
import DinoPlan

/// Executes the programs of a planned graph with the C kernels.
///
/// Everything is allocated once, in `init`: the persistent regions (`PersistentLayout`), one
/// staging buffer per program input, the constants, one arena per program (its
/// `arenaBytes`), the kernels' scratch, and per program a `dino_tensor` table (node `i` is
/// tensor `i`) and a `dino_instr` array. `run` is then one `dino_exec` call: no allocation,
/// hashing or string work per step.
///
/// Memory: `parameter` values are views of their persistent buffer; `input` values read
/// the runtime's staging buffer for that name (shared by programs that declare the same
/// name with the same type); `constant` values read the constants area; every other value
/// lives at its `slot.offset` in its program's arena (slots given to `input`/`constant`
/// leaves are not needed and stay unused); effect results point at a dummy cell. Outputs
/// of a program stay readable until that program runs again.
public final class Runtime {
  /// The graph being executed.
  public let graph: Graph
  /// Where the persistent buffers live (the plan's `persistentLayout`: student, teacher
  /// and Adam moments share one layout).
  public let layout: PersistentLayout
  /// The OpenMP thread count the kernels use (set process-wide before each run when
  /// another runtime changed it).
  public let threads: Int

  var regionBase: [String: UnsafeMutableRawPointer] = [:]
  var regionBytes: [String: Int] = [:]
  var placements: [BufferPlacement] = []
  var placementIndex: [String: Int] = [:]
  var inputs: [InputStore] = []
  var inputsByName: [String: [Int]] = [:]
  var programs: [CompiledProgram] = []
  var programIndex: [String: Int] = [:]
  var lastRun: Int?
  /// The sum over processes `all_reduce_sum` calls (`sumOverProcesses`), kept alive here.
  var processSum: ProcessSum?
  private var allocations: [UnsafeMutableRawPointer] = []
  /// Blocks mapped from the kernel (`allocate` of large sizes), unmapped at deinit.
  private var mappings: [(pointer: UnsafeMutableRawPointer, bytes: Int)] = []

  /// Loads `graph` for execution.
  /// - Parameters:
  ///   - graph: a planned graph: it passes `Verifier.verify`, and every value that is not a
  ///     leaf or an effect result has a `slot` inside its program's `arenaBytes`.
  ///   - threads: the OpenMP thread count for the kernels (at least 1); set process-wide
  ///     with `dino_set_num_threads`.
  /// - Throws: `RuntimeError` naming the first problem (program, value, op).
  public init(graph: Graph, threads: Int = 1) throws(RuntimeError) {
    guard threads >= 1 else {
      throw RuntimeError("thread count must be at least 1, got \(threads)")
    }
    do {
      try Verifier.verify(graph)
    } catch {
      throw RuntimeError("invalid graph: \(Self.oneLine(error))")
    }
    self.graph = graph
    self.threads = threads
    self.layout = PersistentLayout(graph)
    for program in graph.programs { try Self.checkPlanned(program) }
    try Self.checkMemory(PlanMemoryNeeds(graph))
    for program in graph.programs { try Self.checkKernelLimits(program) }

    for name in layout.regions {
      let bytes = layout.regionBytes[name] ?? 0
      regionBase[name] = try allocate(bytes)
      regionBytes[name] = bytes
    }
    placements = BufferPlacement.all(graph, layout: layout)
    for (index, placement) in placements.enumerated() { placementIndex[placement.name] = index }
    dino_set_num_threads(Int32(clamping: threads))
    try collectInputs()
    let constants = try fillConstants()
    let dummy = try allocate(arenaAlignment)
    var scratchBytes = 0
    for program in graph.programs {
      let arena = try allocate(program.arenaBytes ?? 0)
      let compiled = CompiledProgram(
        program, arena: arena, dummy: dummy, constants: constants, runtime: self)
      programIndex[program.name] = programs.count
      programs.append(compiled)
      scratchBytes = max(scratchBytes, compiled.scratchBytes())
    }
    let scratch = try allocate(scratchBytes)
    for program in programs { program.attach(scratch: scratch, bytes: scratchBytes) }
  }

  deinit {
    for pointer in allocations { free(pointer) }
    for mapping in mappings { munmap(mapping.pointer, mapping.bytes) }
  }

  /// Runs the program named `program` over the current inputs and buffers.
  /// - Throws: `RuntimeError` for an unknown program, an input never set, or a kernel error
  ///   (naming the value and op).
  public func run(_ program: String) throws(RuntimeError) {
    try run(programAt: try index(of: program))
  }

  /// Runs program number `index` (its position in `graph.programs`).
  public func run(programAt index: Int) throws(RuntimeError) {
    guard programs.indices.contains(index) else {
      throw RuntimeError("no program number \(index) (the plan has \(programs.count))")
    }
    let program = programs[index]
    for store in program.inputStores where !inputs[store].isSet {
      throw RuntimeError("input '\(inputs[store].name)' of @\(program.name) was not set")
    }
    if dino_get_num_threads() != Int32(clamping: threads) {
      dino_set_num_threads(Int32(clamping: threads))
    }
    let status =
      program.sharing.map { runSharing(program, $0) }
      ?? dino_exec(program.instrs, Int32(program.instrCount), program.context)
    if status != 0 {
      let failed = Int(status) - 1
      let node = failed < program.nodeOfInstr.count ? program.nodeOfInstr[failed] : -1
      let op = node >= 0 ? graph.programs[index].nodes[node].op.name : "?"
      let detail = withUnsafeBytes(of: &program.context.pointee.error) { raw in
        String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
      }
      throw RuntimeError(
        "@\(program.name): %\(node) \(op): \(detail.isEmpty ? "kernel failed" : detail)")
    }
    lastRun = index
  }

  /// The index of the program named `name`.
  func index(of name: String) throws(RuntimeError) -> Int {
    guard let index = programIndex[name] else {
      let known = graph.programs.map { "@\($0.name)" }.joined(separator: ", ")
      throw RuntimeError("no program @\(name) (the plan has \(known.isEmpty ? "none" : known))")
    }
    return index
  }

  /// A zeroed, 64-byte aligned block freed with the runtime; a failed allocation is one
  /// error line, never a trap. Blocks of `mappedBlockBytes` or more are fresh anonymous
  /// mappings, zero pages that take no resident memory until first written: the arena of
  /// a program the run never calls (`@features` and `@attention` in a benchmark) costs
  /// no RSS. Smaller ones are zeroed heap blocks.
  func allocate(_ bytes: Int) throws(RuntimeError) -> UnsafeMutableRawPointer {
    let size = alignedToArena(max(bytes, 1))
    if size >= Self.mappedBlockBytes {
      let mapped = mmap(nil, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
      if let mapped, mapped != MAP_FAILED {
        mappings.append((mapped, size))
        return mapped
      }
    }
    var raw: UnsafeMutableRawPointer?
    guard posix_memalign(&raw, arenaAlignment, size) == 0, let pointer = raw else {
      throw RuntimeError(
        "cannot allocate \(size) bytes for the plan's buffers: free memory or compile a "
          + "smaller model")
    }
    pointer.initializeMemory(as: UInt8.self, repeating: 0, count: size)
    allocations.append(pointer)
    return pointer
  }

  /// The size from which `allocate` maps blocks instead of taking them from the heap.
  static let mappedBlockBytes = 1 << 20

  /// A compile error's lines joined into one.
  static func oneLine(_ error: CompileError) -> String {
    error.description.split(separator: "\n").joined(separator: "; ")
  }

  /// Checks what execution needs beyond the verifier: slots on every computed value,
  /// inside the arena and aligned to the element size; ranks within the kernels' limit.
  /// These bounds keep the kernels inside their buffers for any graph handed to `Runtime`;
  /// that live values do not overlap is the memory proof's (`memoryProblems`), which ran at
  /// the end of compilation and, for a plan file, at load.
  static func checkPlanned(_ program: Program) throws(RuntimeError) {
    for (index, node) in program.nodes.enumerated() {
      func fail(_ message: String) -> RuntimeError {
        RuntimeError("invalid graph: @\(program.name): %\(index) \(node.op.name): \(message)")
      }
      if node.type.rank > Int(DINO_MAX_RANK) {
        throw fail("rank \(node.type.rank) exceeds the kernels' limit of \(DINO_MAX_RANK)")
      }
      if node.op.isLeaf || node.op.isEffect { continue }
      guard let slot = node.slot else {
        throw fail("has no memory slot (the graph is not planned)")
      }
      if let buffer = slot.buffer {
        guard
          program.nodes.contains(where: {
            $0.op == .parameter && $0.attrs.string("name") == buffer && $0.type == node.type
          })
        else { throw fail("lives in buffer \(buffer), which is no \(node.type) of the program") }
        continue
      }
      guard let arena = program.arenaBytes else {
        throw fail("has a slot but the program has no arena size")
      }
      guard slot.offset >= 0, slot.offset % node.type.dtype.byteSize == 0,
        slot.size >= node.type.byteSize, slot.offset + node.type.byteSize <= arena
      else {
        throw fail(
          "slot at offset \(slot.offset) (\(slot.size) bytes) does not hold \(node.type) "
            + "inside the \(arena)-byte arena"
        )
      }
    }
  }

  /// Refuses a value of 2^31 elements or more: the GEMM and image kernels take int
  /// extents, and the C executor trusts the plan, re-checking nothing per step. Runs after
  /// the memory check, which refuses such plans first on machines without the memory.
  static func checkKernelLimits(_ program: Program) throws(RuntimeError) {
    for (index, node) in program.nodes.enumerated() where node.type.count > Int(Int32.max) {
      throw RuntimeError(
        "@\(program.name): %\(index) \(node.op.name): \(node.type) has \(node.type.count) "
          + "elements, the kernels' limit is 2^31 - 1")
    }
  }

  /// Gathers the program inputs into staging stores, one per (name, type).
  private func collectInputs() throws(RuntimeError) {
    for program in graph.programs {
      for node in program.nodes where node.op == .input {
        let name = node.attrs.string("name")
        if inputsByName[name, default: []].contains(where: { inputs[$0].type == node.type }) {
          continue
        }
        inputsByName[name, default: []].append(inputs.count)
        let data = try allocate(node.type.byteSize)
        inputs.append(InputStore(name: name, type: node.type, data: data))
      }
    }
  }

  /// Copies every constant's data into one area; returns each constant's address by
  /// (program index, node index).
  private func fillConstants() throws(RuntimeError) -> [[Int: UnsafeMutableRawPointer]] {
    var total = 0
    for program in graph.programs {
      for node in program.nodes where node.op == .constant {
        total += alignedToArena(node.type.byteSize)
      }
    }
    let area = try allocate(total)
    var offset = 0
    var result: [[Int: UnsafeMutableRawPointer]] = []
    for program in graph.programs {
      var addresses: [Int: UnsafeMutableRawPointer] = [:]
      for (index, node) in program.nodes.enumerated() where node.op == .constant {
        let data = node.attrs.floats("data")
        let count = node.type.count
        guard data.count == count || (data.count == 1 && count > 0) else {
          throw RuntimeError(
            "@\(program.name): %\(index) constant: \(data.count) values for \(node.type)")
        }
        let address = area + offset
        for i in 0..<count {
          let value = data.count == 1 ? data[0] : data[i]
          switch node.type.dtype {
          case .f32: address.storeBytes(of: value, toByteOffset: 4 * i, as: Float.self)
          case .i32:
            guard let int = Int32(exactly: value) else {
              throw RuntimeError("@\(program.name): %\(index) constant: \(value) is not an i32")
            }
            address.storeBytes(of: int, toByteOffset: 4 * i, as: Int32.self)
          }
        }
        addresses[index] = address
        offset += alignedToArena(node.type.byteSize)
      }
      result.append(addresses)
    }
    return result
  }
}

/// The staging buffer of one program input.
struct InputStore {
  var name: String
  var type: TensorType
  var data: UnsafeMutableRawPointer
  var isSet = false
}
