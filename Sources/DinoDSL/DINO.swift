import DinoOps

/// A DINO training setup: student, teacher, loss and run settings. `emit(into:)` registers
/// the buffers, records the hyper-parameters and the standard programs.
///
/// ```swift
/// Model("vit_tiny_dino") { model in
///   DINO(student: student, teacher: teacher, loss: DINOLoss(outDim: 65536),
///        training: DINOTraining().withOptions()).emit(into: model)
/// }
/// ```
///
/// Buffers: `student.backbone.*`, `student.head.*` (trainable, except `weight_g` with
/// `norm_last_layer`), `teacher.*` (not trainable, initialised as `copy(student.<same path>)`),
/// and `center [1, K]` (zeros, not trainable).
///
/// Programs:
/// - `train_step`: inputs `crop0 … crop{V−1}` `[B, C, S, S]` (the two global crops first,
///   then the local ones), `teacher_temp` `f32[]`, `seed` `i32[]`; outputs `loss` `f32[]`
///   and the teacher statistics `teacher_entropy`, `teacher_mean_entropy`, `center_norm`
///   (`TeacherStatistics`, each `f32[]`, no gradient). The
///   student runs on all crops (one backbone pass per resolution group, one head pass), the
///   teacher on `crop0`, `crop1`; the loss uses the previous center, then
///   `assign(center, …)` records the new one. The compiler appends the gradients, clipping,
///   AdamW (`lr`, `wd`, `last_layer_gate` inputs) and the `ema` program.
/// - `features`: input `image` `[B, C, G, G]` (global size), output `features` `[B, dim]`,
///   the teacher backbone's CLS output.
/// - `attention`: input `image` `[B, C, G, G]`, output `attention` `[B, heads, (G/p)²]`, the
///   teacher's last-block attention of the CLS query over the patch keys.
///
/// Stochastic depth: the student's masks use streams `0 …`, resolution group `g` of block `i`
/// drawing `g·2·depth + 2i` (attention branch) and `+1` (MLP branch); a teacher with a
/// non-zero rate (not DINO's) would continue after the student's streams.
public struct DINO {
  /// The trained network, registered as `student`.
  public let student: MultiCropWrapper
  /// The EMA network, registered as `teacher`; same architecture as the student.
  public let teacher: MultiCropWrapper
  /// The loss; its center is registered as `center`.
  public let loss: DINOLoss
  /// Crop layout, optimisation and schedules.
  public let training: DINOTraining

  /// Describes a DINO run.
  /// - Parameters:
  ///   - student: the student (backbone with drop path, head with `normLastLayer` as wanted).
  ///   - teacher: the teacher: the same architecture, drop path 0 as in DINO.
  ///   - loss: the DINO loss.
  ///   - training: crops, optimiser and schedule settings.
  public init(
    student: MultiCropWrapper, teacher: MultiCropWrapper, loss: DINOLoss, training: DINOTraining
  ) {
    self.student = student
    self.teacher = teacher
    self.loss = loss
    self.training = training
  }

  /// The hyper-parameters recorded: every `DINOTraining` key plus the architecture
  /// (`dim`, `depth`, `heads`, `patch`, `drop_path`, `out_dim`, `hidden_dim`,
  /// `bottleneck_dim`, `norm_last_layer` (1/0), `student_temp`).
  public var hyper: [String: Double] {
    let backbone = student.backbone
    let head = student.head
    return training.hyper.merging(
      [
        "dim": Double(backbone.dim), "depth": Double(backbone.depth),
        "heads": Double(backbone.heads), "patch": Double(backbone.patch),
        "drop_path": backbone.dropPath, "out_dim": Double(head.outDim),
        "hidden_dim": Double(head.hidden), "bottleneck_dim": Double(head.bottleneck),
        "norm_last_layer": head.normLastLayer ? 1 : 0, "student_temp": loss.studentTemp,
      ],
      uniquingKeysWith: { _, architecture in architecture })
  }

  /// Registers the buffers, records the hyper-parameters and the programs `train_step`,
  /// `features` and `attention` into `model`.
  /// - Parameters:
  ///   - model: the model being described.
  public func emit(
    into model: Model, file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    let loc = session.userLoc(file, line, column)
    model.register(student, as: "student", file: file, line: line, column: column)
    model.register(
      teacher, as: "teacher", trainable: false, copying: "student",
      file: file, line: line, column: column)
    model.register(loss.center, as: "center", file: file, line: line, column: column)
    model.register(loss, as: "dino_loss", file: file, line: line, column: column)
    guard check(at: loc) else { return }
    for (key, value) in hyper { model.hyper[key] = value }

    let t = training
    let c = t.channels
    let b = t.batch
    let sizes = [t.globalSize, t.globalSize] + Array(repeating: t.localSize, count: t.localCrops)
    model.program("train_step", file: file, line: line, column: column) {
      let crops = sizes.enumerated().map { v, size in
        Input("crop\(v)", [b, c, size, size], file: file, line: line, column: column)
      }
      let teacherTemp = Input("teacher_temp", [], file: file, line: line, column: column)
      let seed = Input("seed", [], dtype: .i32, file: file, line: line, column: column)
      let studentStreams = student.streamCount(for: crops.map(\.shape))
      let s = student(crops, seed: seed, stream: 0, file: file, line: line, column: column)
      let globals = Array(crops[0..<2])
      let tOut = teacher(
        globals, seed: seed, stream: studentStreams, file: file, line: line, column: column)
      let value = loss.withStatistics(
        student: s, teacher: tOut, teacherTemp: teacherTemp,
        file: file, line: line, column: column)
      Output("loss", value.loss, file: file, line: line, column: column)
      if let stats = value.statistics {
        Output("teacher_entropy", stats.entropy, file: file, line: line, column: column)
        Output("teacher_mean_entropy", stats.meanEntropy, file: file, line: line, column: column)
        Output("center_norm", stats.centerNorm, file: file, line: line, column: column)
      }
    }
    model.program("features", file: file, line: line, column: column) {
      let image = Input(
        "image", [b, c, t.globalSize, t.globalSize], file: file, line: line, column: column)
      Output(
        "features", teacher.backbone(image, file: file, line: line, column: column),
        file: file, line: line, column: column)
    }
    model.program("attention", file: file, line: line, column: column) {
      let image = Input(
        "image", [b, c, t.globalSize, t.globalSize], file: file, line: line, column: column)
      Output(
        "attention", teacher.backbone.clsAttention(image, file: file, line: line, column: column),
        file: file, line: line, column: column)
    }
  }

  /// Reports settings that cannot describe a DINO run; `false` if there were any.
  private func check(at loc: SourceLoc) -> Bool {
    var problems: [String] = []
    let t = training
    let s = student
    let u = teacher
    if t.batch < 1 { problems.append("batch must be positive, got \(t.batch)") }
    if t.localCrops < 0 { problems.append("local_crops must be 0 or more, got \(t.localCrops)") }
    if t.channels != s.backbone.channels {
      problems.append(
        "channels \(t.channels) differ from the backbone's \(s.backbone.channels) input channels")
    }
    for (name, size) in [("global_size", t.globalSize), ("local_size", t.localSize)]
    where size < s.backbone.patch || size % s.backbone.patch != 0 {
      if name == "local_size" && t.localCrops == 0 { continue }
      problems.append("\(name) \(size) is not a positive multiple of the patch \(s.backbone.patch)")
    }
    if s.head.outDim != loss.outDim {
      problems.append("the head gives \(s.head.outDim) logits but the loss expects \(loss.outDim)")
    }
    let sb = s.backbone
    let tb = u.backbone
    let sh = s.head
    let th = u.head
    if (sb.imageSize, sb.patch, sb.channels, sb.dim, sb.depth, sb.heads)
      != (tb.imageSize, tb.patch, tb.channels, tb.dim, tb.depth, tb.heads)
      || sb.mlpRatio != tb.mlpRatio
      || (sh.inDim, sh.outDim, sh.hidden, sh.bottleneck, sh.layers.count)
        != (th.inDim, th.outDim, th.hidden, th.bottleneck, th.layers.count)
    {
      problems.append("the teacher's architecture differs from the student's")
    }
    for problem in problems { session.error("DINO: \(problem)", at: loc) }
    let outOfRange = HyperParameterRanges.problems(hyper)
    for (key, message) in outOfRange {
      let option = session.options.first { $0.name == key }
      session.error("DINO: \(message)", at: option?.loc ?? loc)
    }
    return problems.isEmpty && outOfRange.isEmpty
  }
}
