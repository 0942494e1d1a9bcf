import DinoIR

extension Runtime {
  /// The inputs program `program` reads, in node order.
  public func inputs(of program: String) throws(RuntimeError) -> [(name: String, type: TensorType)]
  {
    graph.programs[try index(of: program)].nodes.filter { $0.op == .input }.map {
      ($0.attrs.string("name"), $0.type)
    }
  }

  /// The named results of program `program`, in declaration order.
  public func outputs(of program: String) throws(RuntimeError) -> [(name: String, type: TensorType)]
  {
    let p = graph.programs[try index(of: program)]
    return p.outputs.map { ($0.name, p.nodes[$0.value.index].type) }
  }

  /// The persistent buffers program `program` reads or updates, sorted by name.
  public func parameters(of program: String) throws(RuntimeError) -> [String] {
    let p = graph.programs[try index(of: program)]
    return Set(p.nodes.compactMap(\.bufferName)).sorted()
  }

  /// Sets input `name` from `values` (row-major, the input's element count).
  /// - Parameters:
  ///   - name: the input's name.
  ///   - values: the elements; the input must be f32.
  ///   - program: which program's input, needed only when programs declare `name` with
  ///     different types (programs declaring it with one type share one buffer).
  public func setInput(_ name: String, _ values: [Float], program: String? = nil)
    throws(RuntimeError)
  {
    try values.withUnsafeBufferPointer { (buffer) throws(RuntimeError) -> Void in
      try setInput(name, buffer, program: program)
    }
  }

  /// Sets f32 input `name` from memory the caller owns.
  public func setInput(_ name: String, _ values: UnsafeBufferPointer<Float>, program: String? = nil)
    throws(RuntimeError)
  {
    let store = try inputStore(name, program: program)
    try checkInput(store, dtype: .f32, count: values.count, shape: nil)
    if let base = values.baseAddress {
      inputs[store].data.copyMemory(from: base, byteCount: values.count * 4)
    }
    inputs[store].isSet = true
  }

  /// Sets i32 input `name` (a seed, a step counter).
  public func setInput(_ name: String, ints values: [Int32], program: String? = nil)
    throws(RuntimeError)
  {
    let store = try inputStore(name, program: program)
    try checkInput(store, dtype: .i32, count: values.count, shape: nil)
    values.withUnsafeBytes {
      inputs[store].data.copyMemory(from: $0.baseAddress!, byteCount: $0.count)
    }
    inputs[store].isSet = true
  }

  /// Sets input `name` from a tensor whose dtype and shape must equal the input's.
  public func setInput(_ name: String, _ tensor: HostTensor, program: String? = nil)
    throws(RuntimeError)
  {
    let store = try inputStore(name, program: program)
    try checkInput(store, dtype: tensor.dtype, count: tensor.count, shape: tensor.shape)
    tensor.withUnsafeBytes { raw in
      if let base = raw.baseAddress {
        inputs[store].data.copyMemory(from: base, byteCount: raw.count)
      }
    }
    inputs[store].isSet = true
  }

  /// Sets the scalar (or one-element) f32 input `name`.
  public func setScalar(_ name: String, _ value: Float, program: String? = nil) throws(RuntimeError)
  {
    try setInput(name, [value], program: program)
  }

  /// The staging memory of input `name`, for callers that fill it in place (the data
  /// loader writing crops); marks the input as set.
  public func inputBuffer(_ name: String, program: String? = nil) throws(RuntimeError)
    -> UnsafeMutableRawBufferPointer
  {
    let store = try inputStore(name, program: program)
    inputs[store].isSet = true
    return UnsafeMutableRawBufferPointer(
      start: inputs[store].data, count: inputs[store].type.byteSize)
  }

  /// Output `name` of `program` (default: the program run last) as floats (i32 converted).
  /// Valid until that program runs again.
  public func output(_ name: String, program: String? = nil) throws(RuntimeError) -> [Float] {
    try outputTensor(name, program: program).floats
  }

  /// Output `name` of `program` (default: the program run last) with its type.
  public func outputTensor(_ name: String, program: String? = nil) throws(RuntimeError)
    -> HostTensor
  {
    let index: Int
    if let program {
      index = try self.index(of: program)
    } else if let lastRun {
      index = lastRun
    } else {
      throw RuntimeError("no program has run yet, so there is no output '\(name)'")
    }
    let compiled = programs[index]
    guard let node = compiled.outputs.first(where: { $0.name == name })?.node else {
      let known = compiled.outputs.map(\.name).joined(separator: ", ")
      throw RuntimeError(
        "@\(compiled.name) has no output '\(name)' (its outputs: \(known.isEmpty ? "none" : known))"
      )
    }
    let type = graph.programs[index].nodes[node].type
    let data = UnsafeRawPointer(compiled.tensors[node].data!)
    switch type.dtype {
    case .f32:
      return HostTensor(
        shape: type.shape,
        floats: Array(
          UnsafeBufferPointer(start: data.assumingMemoryBound(to: Float.self), count: type.count)))
    case .i32:
      return HostTensor(
        shape: type.shape,
        ints: Array(
          UnsafeBufferPointer(start: data.assumingMemoryBound(to: Int32.self), count: type.count)))
    }
  }

  /// The staging store for input `name` of `program` (or the only one of that name).
  func inputStore(_ name: String, program: String?) throws(RuntimeError) -> Int {
    if let program {
      let p = try index(of: program)
      guard
        let store = programs[p].inputStoreOfNode.values.first(where: { inputs[$0].name == name })
      else {
        let known = try inputs(of: program).map(\.name).joined(separator: ", ")
        throw RuntimeError(
          "@\(program) has no input '\(name)' (its inputs: \(known.isEmpty ? "none" : known))")
      }
      return store
    }
    guard let stores = inputsByName[name] else {
      let known = inputsByName.keys.sorted().joined(separator: ", ")
      throw RuntimeError(
        "the plan has no input '\(name)' (inputs: \(known.isEmpty ? "none" : known))")
    }
    guard stores.count == 1 else {
      let types = stores.map { "\(inputs[$0].type)" }.joined(separator: ", ")
      throw RuntimeError("input '\(name)' has several types (\(types)); name the program")
    }
    return stores[0]
  }

  /// Checks element type, count and (when given) shape against the store's type.
  private func checkInput(_ store: Int, dtype: DType, count: Int, shape: [Int]?)
    throws(RuntimeError)
  {
    let type = inputs[store].type
    let name = inputs[store].name
    if dtype != type.dtype {
      throw RuntimeError("input '\(name)' is \(type), got \(dtype) values")
    }
    if let shape, shape != type.shape {
      throw RuntimeError("input '\(name)' is \(type), got shape \(shapeText(shape))")
    }
    if count != type.count {
      throw RuntimeError("input '\(name)' is \(type) (\(type.count) values), got \(count)")
    }
  }
}

extension Runtime {
  /// Runs `program` on the tensors of `inputs` (one per program input, by name, with the
  /// input's exact dtype and shape; no others) and returns its outputs: what
  /// `dino-run exec` does between reading and writing files.
  /// - Parameters:
  ///   - program: the program's name.
  ///   - inputs: the input tensors.
  ///   - source: how to name the inputs file in messages.
  /// - Returns: every output of the program, by name, with metadata `program`.
  public func execute(_ program: String, inputs file: SafeTensors, source: String = "inputs")
    throws(RuntimeError) -> SafeTensors
  {
    let declared = try inputs(of: program)
    for (name, type) in declared {
      guard let tensor = file.tensors[name] else {
        throw RuntimeError("\(source) has no tensor '\(name)' (input of @\(program), \(type))")
      }
      try tensor.requireFinite(name, source: source)
      try setInput(name, tensor, program: program)
    }
    let names = Set(declared.map(\.name))
    for name in file.tensors.keys.sorted() where !names.contains(name) {
      throw RuntimeError("\(source): tensor '\(name)' is not an input of @\(program)")
    }
    try run(program)
    var result = SafeTensors(metadata: ["program": program])
    for (name, _) in try outputs(of: program) {
      result.tensors[name] = try outputTensor(name, program: program)
    }
    return result
  }
}

extension Runtime {
  /// Runs `program` over `rows` (whole rows of `rowFloats` floats) a batch of `batch` rows
  /// at a time through its f32 input `input`, zero-padding the last batch, and returns the
  /// first `outFloatsPerRow · n` floats of output `output` of each run, concatenated.
  public func runBatched(
    _ program: String, input: String, output: String, rows: [Float], rowFloats: Int,
    batch: Int, outFloatsPerRow: Int
  ) throws(RuntimeError) -> [Float] {
    let count = rows.count / rowFloats
    let x = try inputBuffer(input, program: program).bindMemory(to: Float.self)
    var result: [Float] = []
    result.reserveCapacity(count * outFloatsPerRow)
    var start = 0
    while start < count {
      let n = min(batch, count - start)
      _ = UnsafeMutableBufferPointer(rebasing: x[0..<n * rowFloats])
        .update(fromContentsOf: rows[start * rowFloats..<(start + n) * rowFloats])
      if n < batch { x[(n * rowFloats)...].update(repeating: 0) }
      try run(program)
      result += try self.output(output, program: program)[0..<n * outFloatsPerRow]
      start += n
    }
    return result
  }
}
