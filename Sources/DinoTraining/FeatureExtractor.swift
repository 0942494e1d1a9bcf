import DinoData
import DinoIR
import DinoOps
import DinoRuntime
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
    runtime = try singleProgramRuntime(graph, program: "features", threads: threads)
    let image = try squareImageInput(runtime, program: "features")
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
    try loadWeights(contentsOf: path, source: .teacher)
  }

  /// Loads the buffers the program reads from the teacher (`teacher.*`) or the student
  /// (`student.*`, into the teacher slots) of a checkpoint or weights file.
  public func loadWeights(contentsOf path: String, source: BackboneSource) throws(RuntimeError) {
    try loadBackboneWeights(
      into: runtime, contentsOf: path, source: source,
      purpose: "features come from the \(source) backbone")
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
    try runtime.loadBuffers(
      SafeTensors(tensors: tensors), required: runtime.bufferNames,
      source: "the untrained network (seed \(seed))")
  }

  /// The features ([n, dim]) and labels of the images of `folder` (undecodable files left
  /// out), in dataset order; with `limit`, `limit` images evenly spaced over the folder.
  /// - Parameter skipped: receives one line naming skipped files, if any were.
  public func extract(
    _ folder: ImageFolder, workers: Int, limit: Int? = nil, skipped: (String) -> Void = { _ in }
  ) throws(RuntimeError) -> (features: [Float], labels: [Int32]) {
    let set = try extractIndexed(folder, workers: workers, limit: limit, skipped: skipped)
    return (set.features, set.labels)
  }

  /// As `extract`, with each feature row's index in `folder.paths` (skipped files have no
  /// row, so the indices say which files the rows belong to).
  public func extractIndexed(
    _ folder: ImageFolder, workers: Int, limit: Int? = nil, skipped: (String) -> Void = { _ in }
  ) throws(RuntimeError) -> (features: [Float], labels: [Int32], indices: [Int]) {
    var features: [Float] = []
    var labels: [Int32] = []
    var indices: [Int] = []
    let b = batch
    let per = transform.floatsPerImage
    let input = try runtime.inputBuffer("image", program: "features").bindMemory(to: Float.self)
    // Runs one batch of `count` images already in `input` (rows ≥ count are padding).
    func run(count: Int, indexOf: (Int) -> Int, labelOf: (Int) -> Int32, valid: (Int) -> Bool)
      throws(RuntimeError)
    {
      if pixels {
        for i in 0..<count where valid(i) {
          features.append(contentsOf: input[i * per..<(i + 1) * per])
          labels.append(labelOf(i))
          indices.append(indexOf(i))
        }
        return
      }
      if count < b {
        input.baseAddress!.advanced(by: count * per).update(repeating: 0, count: (b - count) * per)
      }
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
        indices.append(indexOf(i))
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
          if let image = try? Image(
            contentsOf: folder.paths[index], channels: transform.channels == 1 ? 1 : nil),
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
          count: count, indexOf: { chosen[start + $0] },
          labelOf: { folder.labels[chosen[start + $0]] }, valid: { ok[$0] })
        start += count
      }
      return (features, labels, indices)
    }
    try RuntimeError.mapping {
      let loader = try EvalLoader(
        folder: folder, transform: transform, batchSize: b, workers: workers)
      try loader.forEachBatch { batch in
        _ = UnsafeMutableBufferPointer(rebasing: input[0..<batch.images.count])
          .update(fromContentsOf: batch.images)
        try run(
          count: batch.count, indexOf: { batch.start + $0 }, labelOf: { batch.labels[$0] },
          valid: { batch.valid[$0] != 0 })
      }
      if let summary = loader.skipSummary() { skipped(summary) }
    }
    return (features, labels, indices)
  }
}
