import CDinoKernels
import DinoIR

/// The first NaN or infinity a checked run met: the instruction that produced it, or the
/// input, parameter or constant that already held it when an instruction first read it.
public struct NonFiniteValue: Sendable, Hashable, CustomStringConvertible {
  /// Where the value came from.
  public enum Source: Sendable, Hashable {
    /// An instruction's result (or a buffer an effect op updated in place).
    case computed
    /// A program input holding it before the run (`input 'crop2'`).
    case input(String)
    /// A persistent buffer holding it before the instruction read it.
    case parameter(String)
    /// A constant of the plan.
    case constant
  }

  /// The program run.
  public var program: String
  /// The instruction's node index (for a leaf: the first instruction reading it).
  public var node: Int
  /// Its op (`matmul`, `adamw_update`, …).
  public var op: String
  /// Its `model.swift:line:column`.
  public var loc: SourceLoc
  /// The locations of the nodes a fused instruction absorbed (empty when not fused).
  public var absorbed: [SourceLoc] = []
  /// Its layer scope (may be empty).
  public var scope: String
  /// Whether the instruction belongs to the backward pass.
  public var isBackward: Bool
  /// Where the non-finite value came from.
  public var source: Source
  /// The offending value's type.
  public var type: TensorType
  /// The element index of the first non-finite value.
  public var element: Int
  /// The value (NaN or ±inf).
  public var value: Float

  /// `nan`, `inf` or `-inf`.
  var valueText: String { value.isNaN ? "nan" : value < 0 ? "-inf" : "inf" }

  /// One line, e.g. `@train_step %412 matmul (backward, student.head) at model.swift:31:14
  /// produced inf (element 5 of f32[4,32])`.
  public var description: String {
    var site = "@\(program) %\(node) \(op)"
    let notes = (isBackward ? ["backward"] : []) + (scope.isEmpty ? [] : [scope])
    if !notes.isEmpty { site += " (\(notes.joined(separator: ", ")))" }
    site += " at \(loc)"
    if !absorbed.isEmpty {
      site += " (fused with \(absorbed.map(\.description).joined(separator: ", ")))"
    }
    let at = "element \(element) of \(type)"
    switch source {
    case .computed:
      return "\(site) produced \(valueText) (\(at))"
    case .input(let name):
      return "input '\(name)' holds \(valueText) (\(at)), read by \(site)"
    case .parameter(let name):
      return "parameter '\(name)' holds \(valueText) (\(at)), read by \(site)"
    case .constant:
      return "a constant holds \(valueText) (\(at)), read by \(site)"
    }
  }
}

extension Runtime {
  /// Runs `program` one instruction at a time with the same kernels as `run`, scanning
  /// every f32 result (and every buffer an effect op updates) for NaN or infinity, and each
  /// input, parameter and constant the first time an instruction reads it. Stops at the
  /// first non-finite value; the values computed so far stay where `run` leaves them.
  /// - Returns: the first non-finite value, or nil when the whole run is finite.
  /// - Throws: `RuntimeError` as `run` does.
  public func runChecked(_ name: String) throws(RuntimeError) -> NonFiniteValue? {
    let index = try self.index(of: name)
    let compiled = programs[index]
    let program = graph.programs[index]
    for store in compiled.inputStores where !inputs[store].isSet {
      throw RuntimeError("input '\(inputs[store].name)' of @\(compiled.name) was not set")
    }
    if dino_get_num_threads() != Int32(clamping: threads) {
      dino_set_num_threads(Int32(clamping: threads))
    }
    var scannedLeaves = Set<Int>()
    func firstNonFinite(_ tensor: Int) -> (element: Int, value: Float)? {
      let node = program.nodes[tensor]
      guard node.type.dtype == .f32, let data = compiled.tensors[tensor].data else { return nil }
      let floats = data.assumingMemoryBound(to: Float.self)
      let at = dino_first_nonfinite(floats, Int64(node.type.count))
      return at < 0 ? nil : (Int(at), floats[Int(at)])
    }
    for i in 0..<compiled.instrCount {
      let nodeIndex = compiled.nodeOfInstr[i]
      // A `result` node's value was computed by the node it projects: report that one.
      let site =
        program.nodes[nodeIndex].op == .result
        ? program.nodes[nodeIndex].operands[0].index : nodeIndex
      let node = program.nodes[site]
      func report(_ source: NonFiniteValue.Source, _ tensor: Int, _ found: (Int, Float))
        -> NonFiniteValue
      {
        NonFiniteValue(
          program: name, node: site, op: node.op.name, loc: node.loc, absorbed: node.absorbed,
          scope: node.scope,
          isBackward: node.isBackward, source: source, type: program.nodes[tensor].type,
          element: found.0, value: found.1)
      }
      for operand in node.operands.map(\.index) where program.nodes[operand].op.isLeaf {
        guard scannedLeaves.insert(operand).inserted, let found = firstNonFinite(operand) else {
          continue
        }
        let leaf = program.nodes[operand]
        let source: NonFiniteValue.Source =
          leaf.op == .input
          ? .input(leaf.attrs.string("name"))
          : leaf.op == .parameter || leaf.op == .region
            ? .parameter(leaf.attrs.string("name")) : .constant
        return report(source, operand, found)
      }
      let status = dino_exec(compiled.instrs + i, 1, compiled.context)
      if status != 0 {
        let detail = withUnsafeBytes(of: &compiled.context.pointee.error) { raw in
          String(decoding: raw.prefix { $0 != 0 }, as: UTF8.self)
        }
        throw RuntimeError(
          "@\(name): %\(nodeIndex) \(node.op.name): \(detail.isEmpty ? "kernel failed" : detail)")
      }
      let written =
        node.op.isEffect ? node.op.mutatedOperands.map { node.operands[$0].index } : [nodeIndex]
      for tensor in written {
        if let found = firstNonFinite(tensor) { return report(.computed, tensor, found) }
      }
    }
    lastRun = index
    return nil
  }

  /// Restores `snapshot` (taken before `program` last ran), re-runs `program` checked and
  /// restores it again, so the buffers are those from before the run.
  /// - Returns: `first non-finite value: <NonFiniteValue>`, or a note that the checked run
  ///   found none.
  public func rerunChecked(_ program: String, from snapshot: RegionSnapshot)
    throws(RuntimeError) -> String
  {
    try snapshot.restore()
    let found = try runChecked(program)
    try snapshot.restore()
    guard let found else {
      return "a checked re-run found no non-finite value (not reproducible)"
    }
    return "first non-finite value: \(found)"
  }

  /// Runs `program` on `inputs` like `execute`, and when an f32 output holds a NaN or an
  /// infinity, undoes the run's buffer updates, re-runs it checked and throws one line:
  /// `@<program>: output 'y' holds nan; first non-finite value: …`. What `dino-run exec` runs.
  public func executeChecked(
    _ program: String, inputs file: SafeTensors, source: String = "inputs"
  ) throws(RuntimeError) -> SafeTensors {
    let snapshot = try RegionSnapshot(self, regions: try regionsWritten(by: program))
    try snapshot.save()
    let outputs = try execute(program, inputs: file, source: source)
    guard let bad = try firstNonFiniteOutput(of: program) else { return outputs }
    let value = bad.value.isNaN ? "nan" : bad.value < 0 ? "-inf" : "inf"
    throw RuntimeError(
      "@\(program): output '\(bad.name)' holds \(value) (element \(bad.element)); "
        + (try rerunChecked(program, from: snapshot)))
  }

  /// The regions whose buffers `program` updates in place (its effect ops' targets).
  public func regionsWritten(by name: String) throws(RuntimeError) -> [String] {
    let program = graph.programs[try index(of: name)]
    var regions: [String] = []
    for node in program.nodes where node.op.isEffect {
      for operand in node.op.mutatedOperands {
        let target = program.nodes[node.operands[operand].index]
        if target.op == .region {
          let region = target.attrs.string("name")
          if !regions.contains(region) { regions.append(region) }
          continue
        }
        guard target.op == .parameter,
          let placement = placementIndex[target.attrs.string("name")].map({ placements[$0] }),
          !regions.contains(placement.region)
        else { continue }
        regions.append(placement.region)
      }
    }
    return regions
  }

  /// The first f32 persistent buffer of `regions` holding a NaN or an infinity: its name,
  /// the element and the value; nil when all are finite. One vectorised pass per buffer.
  public func firstNonFiniteBuffer(inRegions regions: [String])
    -> (name: String, element: Int, value: Float)?
  {
    for placement in placements
    where placement.type.dtype == .f32 && regions.contains(placement.region) {
      let data = (regionBase[placement.region]! + placement.offset).assumingMemoryBound(
        to: Float.self)
      let at = dino_first_nonfinite(data, Int64(placement.type.count))
      if at >= 0 { return (placement.name, Int(at), data[Int(at)]) }
    }
    return nil
  }

  /// The first f32 output of `program`'s last run holding a NaN or an infinity.
  public func firstNonFiniteOutput(of name: String) throws(RuntimeError)
    -> (name: String, element: Int, value: Float)?
  {
    let index = try self.index(of: name)
    let compiled = programs[index]
    for (output, node) in compiled.outputs
    where graph.programs[index].nodes[node].type.dtype == .f32 {
      let floats = compiled.tensors[node].data.assumingMemoryBound(to: Float.self)
      let at = dino_first_nonfinite(floats, Int64(graph.programs[index].nodes[node].type.count))
      if at >= 0 { return (output, Int(at), floats[Int(at)]) }
    }
    return nil
  }
}

/// A copy of some persistent regions, taken before a step so that a step that went
/// non-finite can be undone and re-run in checking mode. The copy memory is allocated once.
public final class RegionSnapshot {
  /// The regions copied.
  public let regions: [String]
  private let runtime: Runtime
  private var copies: [UnsafeMutableRawBufferPointer] = []

  /// Allocates copies of `regions` of `runtime` (taken by `save`).
  public init(_ runtime: Runtime, regions: [String]) throws(RuntimeError) {
    self.runtime = runtime
    self.regions = regions
    for name in regions {
      let region = try runtime.region(name)
      copies.append(
        UnsafeMutableRawBufferPointer.allocate(byteCount: max(region.count, 1), alignment: 64))
    }
  }

  deinit {
    for copy in copies { copy.deallocate() }
  }

  /// The bytes copied by each `save`.
  public var bytes: Int { copies.reduce(0) { $0 + $1.count } }

  /// Copies the regions' current contents.
  public func save() throws(RuntimeError) {
    for (name, copy) in zip(regions, copies) {
      let region = try runtime.region(name)
      if region.count > 0 { copy.copyMemory(from: UnsafeRawBufferPointer(region)) }
    }
  }

  /// Writes the last `save` back.
  public func restore() throws(RuntimeError) {
    for (name, copy) in zip(regions, copies) {
      let region = try runtime.region(name)
      if region.count > 0 {
        region.copyMemory(from: UnsafeRawBufferPointer(rebasing: copy[0..<region.count]))
      }
    }
  }
}
