import DinoData
import DinoIR
import DinoOps
import Foundation

/// The teacher backbone's CLS features of a folder of images: the plan's `features`
/// program (input `image` [B,C,G,G], output `features` [B,dim]) over DinoData's
/// `EvalTransform` at the plan's global size and channels, in dataset order.
public final class FeatureExtractor {
  /// A runtime holding only the `features` program and the buffers it reads.
  public let runtime: Runtime
  /// The program's input type, [B, C, G, G].
  public let inputType: TensorType
  /// The feature dimension.
  public let dim: Int
  /// The evaluation transform (global size, channels of the plan).
  public let transform: EvalTransform
  /// When true, `extract` returns the transformed pixels themselves (C·G·G values per
  /// image, the raw-pixel k-NN baseline) and runs no program.
  public var pixels = false

  /// Values per feature vector: `dim`, or C·G·G with `pixels`.
  public var featureDim: Int { pixels ? transform.floatsPerImage : dim }

  /// Loads the `features` program of `graph` (a planned graph).
  /// - Throws: one line when the plan has no usable `features` program.
  public init(graph: Graph, threads: Int = 1) throws(RuntimeError) {
    guard let index = graph.programIndex("features") else {
      let known = graph.programs.map { "@\($0.name)" }.joined(separator: ", ")
      throw RuntimeError(
        "the plan has no @features program (it has \(known.isEmpty ? "none" : known)); "
          + "compile a DINO model")
    }
    // Only @features, whose parameters all come from the checkpoint: their init specs
    // (the teacher's `copy(student.*)`) are not needed and would name absent buffers.
    var program = graph.programs[index]
    for i in program.nodes.indices where program.nodes[i].op == .parameter {
      program.nodes[i].attrs["init"] = .string("zeros")
    }
    var only = graph
    only.programs = [program]
    runtime = try Runtime(graph: only, threads: threads)
    let inputs = try runtime.inputs(of: "features")
    guard let image = inputs.first(where: { $0.name == "image" }), inputs.count == 1,
      image.type.dtype == .f32, image.type.rank == 4, image.type.shape[2] == image.type.shape[3]
    else {
      throw RuntimeError("@features must take one input 'image' f32[B,C,G,G]")
    }
    guard let out = try runtime.outputs(of: "features").first(where: { $0.name == "features" }),
      out.type.rank == 2, out.type.shape[0] == image.type.shape[0]
    else {
      throw RuntimeError("@features must return 'features' f32[B,dim]")
    }
    inputType = image.type
    dim = out.type.shape[1]
    do {
      transform = try EvalTransform(size: image.type.shape[2], channels: image.type.shape[1])
    } catch {
      throw RuntimeError(error.message)
    }
  }

  /// Images per program run.
  public var batch: Int { inputType.shape[0] }

  /// Loads the `teacher.*` buffers the program reads from a checkpoint or weights file.
  public func loadTeacher(contentsOf path: String) throws(RuntimeError) {
    guard FileManager.default.fileExists(atPath: path) else {
      throw RuntimeError("checkpoint '\(path)' does not exist")
    }
    let file: SafeTensors
    do {
      file = try SafeTensors.read(contentsOf: path)
    } catch {
      throw RuntimeError(error.message)
    }
    try loadTeacher(file, source: path)
  }

  /// Sets the teacher to the untrained network of `graph`: the student drawn from its init
  /// specs with `seed` and copied, as `dino-run train` starts (the baseline a trained teacher
  /// is compared with).
  public func loadUntrainedTeacher(graph: Graph, seed: UInt64) throws(RuntimeError) {
    let trainer = try DINOTrainer(graph: graph, threads: runtime.threads)
    try trainer.initialize(seed: seed)
    let shapes = Dictionary(
      graph.buffers().map { ($0.name, $0.type.shape) }, uniquingKeysWith: { a, _ in a })
    var tensors: [String: HostTensor] = [:]
    for name in runtime.bufferNames {
      guard let shape = shapes[name] else { continue }
      tensors[name] = HostTensor(shape: shape, floats: Array(try trainer.runtime.buffer(name)))
    }
    try loadTeacher(SafeTensors(tensors: tensors), source: "the untrained network (seed \(seed))")
  }

  /// Loads the `teacher.*` buffers the program reads from `file` (named `source` in errors).
  public func loadTeacher(_ file: SafeTensors, source path: String) throws(RuntimeError) {
    let needed = runtime.bufferNames
    let missing = needed.filter { file.tensors[$0] == nil }
    if !missing.isEmpty {
      let teachers = file.tensors.keys.filter { $0.hasPrefix("teacher.") }.count
      throw RuntimeError(
        teachers == 0
          ? "\(path) has no teacher weights (teacher.*): k-NN uses the teacher backbone"
          : "\(path) lacks \(missing.count) of the \(needed.count) teacher tensors "
            + "@features reads, e.g. '\(missing[0])'")
    }
    let subset = SafeTensors(tensors: file.tensors.filter { needed.contains($0.key) })
    try runtime.loadBuffers(subset, required: needed, source: path)
  }

  /// The features ([n, dim]) and labels of the images of `folder` (undecodable files left
  /// out), in dataset order; with `limit`, `limit` images evenly spaced over the folder.
  /// - Parameter skipped: receives one line naming skipped files, if any were.
  public func extract(
    _ folder: ImageFolder, workers: Int, limit: Int? = nil, skipped: (String) -> Void = { _ in }
  ) throws(RuntimeError) -> (features: [Float], labels: [Int32]) {
    var features: [Float] = []
    var labels: [Int32] = []
    let b = batch
    let per = transform.floatsPerImage
    let input = try runtime.inputBuffer("image", program: "features").bindMemory(to: Float.self)
    // Runs one batch of `count` images already in `input` (rows ≥ count are padding).
    func run(
      count: Int, labelOf: (Int) -> Int32, valid: (Int) -> Bool, indexOf: (Int) -> Int
    ) throws(RuntimeError) {
      if pixels {
        for i in 0..<count where valid(i) {
          features.append(contentsOf: input[i * per..<(i + 1) * per])
          labels.append(labelOf(i))
        }
        return
      }
      if count < b { input.baseAddress!.advanced(by: count * per).update(repeating: 0, count: (b - count) * per) }
      try runtime.run("features")
      let out = try runtime.output("features", program: "features")
      for i in 0..<count where valid(i) {
        let row = out[i * dim..<(i + 1) * dim]
        if let bad = row.first(where: { !$0.isFinite }) {
          throw RuntimeError(
            "the features of \(folder.relativePath(indexOf(i))) (under \(folder.root)) hold "
              + "\(bad): the weights or the image give non-finite features; refusing to score")
        }
        features.append(contentsOf: row)
        labels.append(labelOf(i))
      }
    }
    if let limit, limit < folder.count {
      guard limit >= 1 else { throw RuntimeError("a limit must be at least 1") }
      let chosen = (0..<limit).map { $0 * folder.count / limit }
      var start = 0
      while start < chosen.count {
        let count = min(b, chosen.count - start)
        let ok = UnsafeMutableBufferPointer<Bool>.allocate(capacity: count)
        defer { ok.deallocate() }
        nonisolated(unsafe) let target = input
        nonisolated(unsafe) let decoded = ok
        let transform = transform
        let first = start
        DispatchQueue.concurrentPerform(iterations: count) { i in
          let index = chosen[first + i]
          let out = UnsafeMutableBufferPointer(rebasing: target[i * per..<(i + 1) * per])
          if let image = try? Image(contentsOf: folder.paths[index], channels: transform.channels == 1 ? 1 : nil),
            let floats = try? transform.apply(image)
          {
            _ = out.update(fromContentsOf: floats)
            decoded[i] = true
          } else {
            out.update(repeating: 0)
            decoded[i] = false
          }
        }
        let bad = (0..<count).filter { !ok[$0] }.map { folder.relativePath(chosen[start + $0]) }
        if !bad.isEmpty { skipped("skipped \(bad.count) undecodable file(s), e.g. \(bad[0])") }
        try run(
          count: count, labelOf: { folder.labels[chosen[start + $0]] }, valid: { ok[$0] },
          indexOf: { chosen[start + $0] })
        start += count
      }
      return (features, labels)
    }
    try RuntimeError.mapping {
      let loader = try EvalLoader(
        folder: folder, transform: transform, batchSize: b, workers: workers)
      try loader.forEachBatch { batch in
        _ = UnsafeMutableBufferPointer(rebasing: input[0..<batch.images.count])
          .update(fromContentsOf: batch.images)
        try run(
          count: batch.count, labelOf: { batch.labels[$0] }, valid: { batch.valid[$0] != 0 },
          indexOf: { batch.start + $0 })
      }
      if let summary = loader.skipSummary() { skipped(summary) }
    }
    return (features, labels)
  }
}
