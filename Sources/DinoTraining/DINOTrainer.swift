import DinoIR
import DinoPlan
import DinoRuntime

/// One DINO training iteration over a plan's `train_step` and `ema` programs, in official
/// DINO's order (docs/DINO.md §5.3): student and teacher forward, loss, center update,
/// backward, per-parameter clipping, last-layer freeze, AdamW (all inside `train_step`),
/// then the teacher EMA (`ema`). `dino-run step` runs one; `dino-run train` loops.
///
/// Weights are the persistent buffers `student.*`, `teacher.*` and `center` (official
/// state-dict names); optimiser state is `adam_m.*`, `adam_v.*`, `adam_step.*`.
public final class DINOTrainer {
  /// The runtime holding the plan's buffers and programs.
  public let runtime: Runtime
  /// The crops `train_step` reads, `crop0`… in view order (global crops first).
  public let crops: [(name: String, type: TensorType)]
  /// The student buffers, in graph order.
  public let studentBuffers: [String]
  /// The teacher buffers, in graph order.
  public let teacherBuffers: [String]
  /// The optimiser state buffers (`adam_m.*`, `adam_v.*`, `adam_step.*`), in graph order.
  public let optimizerBuffers: [String]
  /// Whether the plan has a `center` buffer.
  public let hasCenter: Bool
  /// Processes training together (data parallelism): the schedules scale the learning rate
  /// by the global batch, `batch · worldSize` (official DINO's linear scaling rule).
  public var worldSize = 1
  /// Whether `train_step` reads the drop-path `seed` input.
  private let readsSeed: Bool
  /// Whether `train_step` reads `last_layer_gate` (a model without a last layer does not).
  private let readsGate: Bool

  /// The per-step scalar inputs.
  public struct Scalars: Hashable, Sendable {
    /// Learning rate (`lr`).
    public var lr: Double
    /// Weight decay of the regularised parameters (`wd`).
    public var weightDecay: Double
    /// Teacher EMA momentum (`momentum` of `ema`).
    public var momentum: Double
    /// Teacher temperature (`teacher_temp`).
    public var teacherTemp: Double
    /// 0 while the last layer is frozen, else 1 (`last_layer_gate`).
    public var lastLayerGate: Double
    /// The drop-path RNG seed (`seed`).
    public var seed: Int32

    /// Creates the scalars of one step.
    public init(
      lr: Double, weightDecay: Double, momentum: Double, teacherTemp: Double,
      lastLayerGate: Double, seed: Int32
    ) {
      self.lr = lr
      self.weightDecay = weightDecay
      self.momentum = momentum
      self.teacherTemp = teacherTemp
      self.lastLayerGate = lastLayerGate
      self.seed = seed
    }
  }

  /// Loads `graph` (a planned DINO graph with `train_step` and `ema`).
  /// - Parameters:
  ///   - graph: the plan's graph.
  ///   - threads: kernel threads.
  /// - Throws: `RuntimeError` when the graph cannot run or is not a DINO training plan.
  public init(graph: Graph, threads: Int = 1) throws(RuntimeError) {
    for name in ["train_step", "ema"] where graph.programIndex(name) == nil {
      let known = graph.programs.map { "@\($0.name)" }.joined(separator: ", ")
      throw RuntimeError(
        "the plan has no @\(name) program (it has \(known.isEmpty ? "none" : known)); "
          + "compile a model that declares DINO training")
    }
    runtime = try Runtime(graph: graph, threads: threads)
    let inputs = try runtime.inputs(of: "train_step")
    crops = try Self.cropInputs(inputs)
    for (name, type) in [("lr", TensorType.scalar), ("wd", .scalar), ("teacher_temp", .scalar)]
    where !inputs.contains(where: { $0.name == name && $0.type == type }) {
      throw RuntimeError("@train_step has no \(type) input '\(name)'")
    }
    readsSeed = inputs.contains { $0.name == "seed" }
    readsGate = inputs.contains { $0.name == "last_layer_gate" }
    guard try runtime.outputs(of: "train_step").contains(where: { $0.name == "loss" }) else {
      throw RuntimeError("@train_step has no output 'loss'")
    }
    guard try runtime.inputs(of: "ema").contains(where: { $0.name == "momentum" }) else {
      throw RuntimeError("@ema has no input 'momentum'")
    }
    let names = runtime.bufferNames
    studentBuffers = names.filter { $0.hasPrefix("student.") }
    teacherBuffers = names.filter { $0.hasPrefix("teacher.") }
    optimizerBuffers = names.filter {
      $0.hasPrefix("adam_m.") || $0.hasPrefix("adam_v.") || $0.hasPrefix("adam_step.")
    }
    hasCenter = names.contains("center")
  }

  /// Reads the plan at `path` and loads it.
  public convenience init(plan path: String, threads: Int = 1) throws(RuntimeError) {
    let graph: Graph
    do {
      graph = try PlanReader.read(contentsOf: path)
    } catch {
      throw RuntimeError(error.description)
    }
    try self.init(graph: graph, threads: threads)
  }

  /// The plan's hyper-parameters (`Graph.hyper`).
  public var hyper: [String: Double] { runtime.graph.hyper }

  /// The images per step (the crops' batch dimension).
  public var batch: Int { crops.first?.type.shape.first ?? 0 }

  /// The weights: student, teacher and center buffers, in graph order.
  public var weightNames: [String] {
    studentBuffers + teacherBuffers + (hasCenter ? ["center"] : [])
  }

  /// The plan's schedules for `iterationsPerEpoch` steps per epoch over `epochs` epochs
  /// (nil: the plan's), or over exactly `totalIterations` iterations (a time budget: the
  /// lengths scale with the run).
  public func schedules(
    iterationsPerEpoch: Int, epochs: Int? = nil, totalIterations: Int? = nil
  ) throws(RuntimeError) -> TrainingSchedules {
    do {
      if let totalIterations {
        return try TrainingSchedules(
          hyper: hyper, iterationsPerEpoch: iterationsPerEpoch, totalIterations: totalIterations,
          worldSize: worldSize)
      }
      return try TrainingSchedules(
        hyper: hyper, iterationsPerEpoch: iterationsPerEpoch, epochs: epochs,
        worldSize: worldSize)
    } catch {
      throw RuntimeError(error.message)  // schedule errors have no source location
    }
  }

  /// The scheduled scalars at iteration `iteration` of epoch `epoch` (global iteration
  /// `epoch · iterationsPerEpoch + iteration`).
  public static func scalars(
    _ schedules: TrainingSchedules, epoch: Int, iteration: Int, seed: Int32
  ) -> Scalars {
    scalars(schedules, step: epoch * schedules.iterationsPerEpoch + iteration, seed: seed)
  }

  /// The scheduled scalars at global iteration `step`.
  public static func scalars(_ schedules: TrainingSchedules, step it: Int, seed: Int32)
    -> Scalars
  {
    Scalars(
      lr: schedules.lr(it), weightDecay: schedules.weightDecay(it),
      momentum: schedules.momentum(it), teacherTemp: schedules.teacherTemp(iteration: it),
      lastLayerGate: schedules.lastLayerGate(iteration: it), seed: seed)
  }

  /// Sets every crop from `file`, which must hold exactly `crop0`…`crop{V-1}` with the
  /// plan's shapes.
  /// - Throws: one `RuntimeError` listing what was expected and what the file holds.
  public func setCrops(_ file: SafeTensors, source: String = "crops") throws(RuntimeError) {
    let expected = Set(crops.map(\.name))
    let problem: String?
    if let missing = crops.first(where: { file.tensors[$0.name] == nil }) {
      problem = "has no tensor '\(missing.name)'"
    } else if let extra = file.tensors.keys.sorted().first(where: { !expected.contains($0) }) {
      problem = "has a tensor '\(extra)' that is not a crop"
    } else if let wrong = crops.first(where: { file.tensors[$0.name]!.type != $0.type }) {
      problem = "'\(wrong.name)' is \(file.tensors[wrong.name]!.type)"
    } else {
      problem = nil
    }
    if let problem {
      throw RuntimeError("\(source) \(problem); the plan takes \(cropSummary())")
    }
    for crop in crops { try file.tensors[crop.name]!.requireFinite(crop.name, source: source) }
    for crop in crops { try runtime.setInput(crop.name, file.tensors[crop.name]!) }
  }

  /// The staging memory of crop `view` (f32, [B,C,H,W] row-major), for a loader that
  /// writes crops in place; marks the crop as set.
  public func cropBuffer(_ view: Int) throws(RuntimeError) -> UnsafeMutableBufferPointer<Float> {
    guard crops.indices.contains(view) else {
      throw RuntimeError("no crop \(view): the plan takes \(crops.count) crops")
    }
    let raw = try runtime.inputBuffer(crops[view].name, program: "train_step")
    return raw.bindMemory(to: Float.self)
  }

  /// One full iteration: `train_step` with `scalars`, then `ema` with its momentum.
  /// - Returns: the loss, computed before this step's updates (it may be non-finite: the
  ///   caller decides; the updates have then been applied already).
  @discardableResult
  public func step(_ scalars: Scalars) throws(RuntimeError) -> Float {
    let loss = try trainStep(scalars)
    try updateTeacher(momentum: scalars.momentum)
    return loss
  }

  /// Runs `train_step` only (forward, loss, center, backward, clipping, freeze, AdamW).
  /// - Returns: the loss.
  public func trainStep(_ scalars: Scalars) throws(RuntimeError) -> Float {
    try runtime.setScalar("lr", Float(scalars.lr), program: "train_step")
    try runtime.setScalar("wd", Float(scalars.weightDecay), program: "train_step")
    try runtime.setScalar("teacher_temp", Float(scalars.teacherTemp), program: "train_step")
    if readsGate {
      try runtime.setScalar("last_layer_gate", Float(scalars.lastLayerGate), program: "train_step")
    }
    if readsSeed { try runtime.setInput("seed", ints: [scalars.seed], program: "train_step") }
    try runtime.run("train_step")
    return try runtime.output("loss", program: "train_step")[0]
  }

  /// Runs `ema`: teacher ← m·teacher + (1−m)·student.
  public func updateTeacher(momentum: Double) throws(RuntimeError) {
    try runtime.setScalar("momentum", Float(momentum), program: "ema")
    try runtime.run("ema")
  }

  /// `crop0 f32[2,1,28,28], …`: the crops the plan takes.
  func cropSummary() -> String {
    crops.map { "\($0.name) \($0.type)" }.joined(separator: ", ")
  }

  /// The `crop<i>` inputs of `train_step`, sorted by index; they must be numbered 0…V−1.
  private static func cropInputs(_ inputs: [(name: String, type: TensorType)])
    throws(RuntimeError) -> [(name: String, type: TensorType)]
  {
    var byIndex: [Int: TensorType] = [:]
    for input in inputs where input.name.hasPrefix("crop") {
      guard let index = Int(input.name.dropFirst(4)), index >= 0 else { continue }
      guard input.type.dtype == .f32, input.type.rank == 4 else {
        throw RuntimeError("@train_step input '\(input.name)' is \(input.type), not f32[B,C,H,W]")
      }
      byIndex[index] = input.type
    }
    guard !byIndex.isEmpty else { throw RuntimeError("@train_step has no crop inputs") }
    var result: [(name: String, type: TensorType)] = []
    for index in 0..<byIndex.count {
      guard let type = byIndex[index] else {
        throw RuntimeError("@train_step's crops are not numbered crop0…crop\(byIndex.count - 1)")
      }
      result.append(("crop\(index)", type))
    }
    return result
  }
}
