import DinoIR

extension Runtime {
  /// The persistent buffers' names, in graph order, without the `grad` scratch region.
  public var bufferNames: [String] {
    placements.filter { $0.region != Self.scratchRegion }.map(\.name)
  }

  /// The region of the flat optimiser's gradients: rewritten by every step, so it is no
  /// state (left out of `bufferNames`, checkpoints and weight files).
  public static let scratchRegion = "grad"

  /// The persistent buffer `name` (f32), a view into its region.
  public func buffer(_ name: String) throws(RuntimeError) -> UnsafeMutableBufferPointer<Float> {
    let placement = try self.placement(name)
    let base = (regionBase[placement.region]! + placement.offset).assumingMemoryBound(
      to: Float.self)
    return UnsafeMutableBufferPointer(start: base, count: placement.type.count)
  }

  /// The type of persistent buffer `name`.
  public func bufferType(_ name: String) throws(RuntimeError) -> TensorType {
    try placement(name).type
  }

  /// The whole region `name` (`student`, `teacher`, …) as flat memory; buffers sit at
  /// their `layout` offsets, gaps between them (and paths a mirrored region lacks) are zero.
  public func region(_ name: String) throws(RuntimeError) -> UnsafeMutableRawBufferPointer {
    guard let base = regionBase[name], let bytes = regionBytes[name] else {
      let known = layout.regions.joined(separator: ", ")
      throw RuntimeError("no region '\(name)' (regions: \(known.isEmpty ? "none" : known))")
    }
    return UnsafeMutableRawBufferPointer(start: base, count: bytes)
  }

  /// Sets every persistent buffer from its init spec (`zeros`, `ones`, `const(v)`,
  /// `normal(std)`, `trunc_normal(std,a,b)`, `uniform(lo,hi)`, `copy(name)`).
  ///
  /// Random specs draw element `i` of buffer `name` from `dino_hash(seed, fnv1a(name), i, 0)`
  /// by inverse-CDF sampling, so values depend on seed, name and shape only; `copy(name)`
  /// copies the named buffer after that buffer's own initialisation.
  /// - Throws: `RuntimeError` for an unreadable spec, a copy of a missing or differently
  ///   typed buffer, or a cycle of copies.
  public func initializeParameters(seed: UInt64) throws(RuntimeError) {
    var copies: [(name: String, source: String)] = []
    for placement in placements {
      guard let spec = InitSpec(parsing: placement.initSpec) else {
        throw RuntimeError(
          "buffer '\(placement.name)': unreadable init spec '\(placement.initSpec)'")
      }
      let out = try buffer(placement.name)
      let stream = InitRandom.fnv1a(placement.name)
      switch spec {
      case .zeros: out.update(repeating: 0)
      case .ones: out.update(repeating: 1)
      case .constant(let v): out.update(repeating: Float(v))
      case .normal(let std): InitRandom.fillNormal(out, std: std, seed: seed, stream: stream)
      case .truncNormal(let std, let a, let b):
        InitRandom.fillTruncatedNormal(out, std: std, a: a, b: b, seed: seed, stream: stream)
      case .uniform(let lo, let hi):
        InitRandom.fillUniform(out, lo: lo, hi: hi, seed: seed, stream: stream)
      case .copy(let source):
        guard let from = placementIndex[source] else {
          throw RuntimeError(
            "buffer '\(placement.name)': init copy(\(source)) names no buffer of the plan")
        }
        if placements[from].type != placement.type {
          throw RuntimeError(
            "buffer '\(placement.name)': init copy(\(source)) copies "
              + "\(placements[from].type) into \(placement.type)"
          )
        }
        copies.append((placement.name, source))
      }
    }
    // Copies run once their source is final: sources that are not copies themselves first.
    var pending = copies
    while !pending.isEmpty {
      let waiting = Set(pending.map(\.name))
      let ready = pending.filter { !waiting.contains($0.source) }
      if ready.isEmpty {
        throw RuntimeError(
          "buffers \(pending.map { "'\($0.name)'" }.sorted().joined(separator: ", ")) "
            + "copy each other in a cycle"
        )
      }
      for copy in ready {
        let destination = try buffer(copy.name)
        let source = try buffer(copy.source)
        _ = destination.update(fromContentsOf: source)
      }
      pending.removeAll { item in ready.contains { $0.name == item.name } }
    }
  }

  /// Copies the tensors of `file` into the persistent buffers of the same names.
  /// - Parameters:
  ///   - file: the tensors; each must name a buffer of the plan, with its exact shape and
  ///     a float type.
  ///   - required: buffers the file must provide.
  ///   - source: how to name the file in messages.
  /// - Returns: the names loaded, sorted.
  @discardableResult
  public func loadBuffers(_ file: SafeTensors, required: [String] = [], source: String = "file")
    throws(RuntimeError) -> [String]
  {
    for name in required.sorted() where file.tensors[name] == nil {
      throw RuntimeError("\(source) has no tensor '\(name)' (needed by the plan)")
    }
    let names = file.tensors.keys.sorted()
    for name in names {
      let tensor = file.tensors[name]!
      guard let index = placementIndex[name] else {
        throw RuntimeError("\(source): tensor '\(name)' is not a buffer of the plan")
      }
      let type = placements[index].type
      guard tensor.dtype == type.dtype, tensor.shape == type.shape else {
        throw RuntimeError(
          "\(source): tensor '\(name)' is \(tensor.type) but the plan's buffer is \(type)")
      }
      try tensor.requireFinite(name, source: source)
    }
    for name in names {
      let out = try buffer(name)
      _ = out.update(fromContentsOf: file.tensors[name]!.floats)
    }
    return names
  }

  /// Reads `path` and loads it with `loadBuffers(_:required:source:)`.
  @discardableResult
  public func loadBuffers(contentsOf path: String, required: [String] = []) throws(RuntimeError)
    -> [String]
  {
    let file: SafeTensors
    do {
      file = try SafeTensors.read(contentsOf: path)
    } catch {
      throw RuntimeError(error.message)
    }
    return try loadBuffers(file, required: required, source: path)
  }

  /// Writes persistent buffers to a safetensors file, atomically, straight from memory.
  /// - Parameters:
  ///   - path: the destination.
  ///   - names: which buffers (default: all, in graph order).
  ///   - metadata: the file's `__metadata__`.
  public func saveBuffers(to path: String, names: [String]? = nil, metadata: [String: String] = [:])
    throws(RuntimeError)
  {
    var entries: [SafeTensorsWriter.Entry] = []
    for name in names ?? bufferNames {
      let placement = try self.placement(name)
      let base = UnsafeRawPointer(regionBase[placement.region]! + placement.offset)
      entries.append(
        .init(
          name: name, type: placement.type,
          bytes: UnsafeRawBufferPointer(start: base, count: placement.type.byteSize)))
    }
    do {
      try SafeTensorsWriter.write(to: path, metadata: metadata, entries: entries)
    } catch {
      throw RuntimeError(error.message)
    }
  }

  /// The placement of buffer `name`.
  func placement(_ name: String) throws(RuntimeError) -> BufferPlacement {
    guard let index = placementIndex[name] else {
      throw RuntimeError("the plan has no buffer '\(name)'")
    }
    return placements[index]
  }
}
