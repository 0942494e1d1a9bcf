import DinoRuntime

extension DINOTrainer {
  /// Where each part of the weights came from after `loadWeights`.
  public struct WeightSources: Hashable, Sendable {
    /// The student came from the file (else from the init specs and the seed).
    public var studentFromFile: Bool
    /// The teacher came from the file (else it is a copy of the student).
    public var teacherFromFile: Bool
    /// The center came from the file (else zeros).
    public var centerFromFile: Bool
    /// The file was a backbone file: only the backbones came from it, the heads from
    /// their init specs.
    public var backboneOnly = false
  }

  /// Sets every buffer from the plan's init specs with `seed`: random student, teacher a
  /// copy of the student, zero center and optimiser state.
  public func initialize(seed: UInt64) throws(RuntimeError) {
    try runtime.initializeParameters(seed: seed)
  }

  /// Sets the weights from `file`, as official DINO's `load_state_dict` start would:
  /// - `student.*`: all of the plan's student tensors, or none (then the init specs and
  ///   `seed` give them);
  /// - `teacher.*`: all or none (none: a copy of the student);
  /// - `center`: optional (absent: zeros).
  /// The optimiser state starts fresh (zero moments, step 0). Any other tensor, a tensor the
  /// plan lacks, or a shape that differs from the plan's is an error.
  /// - Returns: which parts came from the file.
  @discardableResult
  public func loadWeights(_ file: SafeTensors, seed: UInt64 = 0, source: String = "weights")
    throws(RuntimeError) -> WeightSources
  {
    if BackboneFile.isBackbone(file) {
      try loadBackbone(file, seed: seed, source: source)
      return WeightSources(
        studentFromFile: true, teacherFromFile: true, centerFromFile: false, backboneOnly: true)
    }
    for name in file.tensors.keys.sorted()
    where !(name.hasPrefix("student.") || name.hasPrefix("teacher.") || name == "center") {
      throw RuntimeError(
        "\(source): tensor '\(name)' is not a weight (student.*, teacher.*, center)")
    }
    let student = try requireAllOrNone(file, studentBuffers, region: "student", source: source)
    let teacher = try requireAllOrNone(file, teacherBuffers, region: "teacher", source: source)
    try runtime.initializeParameters(seed: seed)
    try runtime.loadBuffers(file, source: source)
    if !teacher { try copyStudentToTeacher() }
    return WeightSources(
      studentFromFile: student, teacherFromFile: teacher,
      centerFromFile: file.tensors["center"] != nil)
  }

  /// Reads `path` and loads it with `loadWeights(_:seed:source:)`.
  @discardableResult
  public func loadWeights(contentsOf path: String, seed: UInt64 = 0) throws(RuntimeError)
    -> WeightSources
  {
    try loadWeights(try Self.read(path), seed: seed, source: path)
  }

  /// Copies every student buffer into its teacher twin (`teacher.x` ← `student.x`).
  public func copyStudentToTeacher() throws(RuntimeError) {
    for name in teacherBuffers {
      let twin = "student" + name.dropFirst("teacher".count)
      guard studentBuffers.contains(twin) else { continue }
      let source = try runtime.buffer(twin)
      let destination = try runtime.buffer(name)
      guard source.count == destination.count else {
        throw RuntimeError("\(name) and \(twin) differ in size; cannot copy the student")
      }
      _ = destination.update(fromContentsOf: source)
    }
  }

  /// Writes `student.*`, `teacher.*` and `center` (official state-dict names) atomically.
  public func saveWeights(to path: String, metadata: [String: String] = [:]) throws(RuntimeError) {
    try runtime.saveBuffers(to: path, names: weightNames, metadata: metadata)
  }

  /// Reads a safetensors file, any failure as a `RuntimeError`.
  static func read(_ path: String) throws(RuntimeError) -> SafeTensors {
    do {
      return try SafeTensors.read(contentsOf: path)
    } catch {
      throw RuntimeError(error.message)
    }
  }

  /// Whether `file` holds the buffers `names` (all of them: true; none: false).
  private func requireAllOrNone(
    _ file: SafeTensors, _ names: [String], region: String, source: String
  ) throws(RuntimeError) -> Bool {
    let present = names.filter { file.tensors[$0] != nil }
    if present.isEmpty { return false }
    if let missing = names.first(where: { file.tensors[$0] == nil }) {
      throw RuntimeError(
        "\(source) has \(present.count) of the plan's \(names.count) \(region) tensors; "
          + "'\(missing)' is missing")
    }
    return true
  }
}
