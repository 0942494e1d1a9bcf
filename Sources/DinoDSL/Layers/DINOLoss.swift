import DinoOps

/// Official DINO's `DINOLoss`: cross-entropy between the centred, sharpened teacher
/// distribution and the student's, over every pair of different views, followed by the
/// center update.
///
/// With `B` images, teacher logits `t [2B, K]` (the two global views) and student logits
/// `s [V·B, K]` (all views, view-major):
/// - `P_t = softmax((t − center) / τt)` (constants to the gradient: they depend on no student
///   parameter), `log P_s = log_softmax(s / τs)`;
/// - `loss = (1/(2V − 2)) Σ_{a∈{0,1}} Σ_{v≠a} mean_b[−Σ_k P_t^(a) log P_s^(v)]`, one
///   `dino_cross_entropy` op (one pass over each student row; its gradient the closed form
///   `(n_v·P_s^(v) − Σ_{a≠v} P_t^(a)) / (τs·(2V − 2)·B)`);
/// - then `center ← m·center + (1 − m)·Σ_rows t / 2B`, recorded as `assign(center, …)` after
///   every read of the old center (each step uses the previous center).
///
/// With `centering: .sinkhornKnopp(iterations:)` (DINOv2's teacher, a named departure from
/// v1) `P_t = softmax(sinkhornKnoppLogits(t, τt))` instead; the center is still updated.
///
/// Parameter: `center [1, K]` (zeros, not trained). DINO registers it as the buffer `center`.
public final class DINOLoss: Module {
  /// The running mean of the teacher's logits, `[1, outDim]`.
  public let center: Parameter
  /// `K`.
  public let outDim: Int
  /// `τs` (DINO: 0.1).
  public let studentTemp: Double
  /// The center's EMA momentum `m` (DINO: 0.9).
  public let centerMomentum: Double
  /// How teacher logits become targets: official centering, or Sinkhorn-Knopp (a named
  /// departure, DINOv2's).
  public let centering: TeacherCentering

  /// Creates the loss.
  /// - Parameters:
  ///   - outDim: the heads' output dimension `K`.
  ///   - studentTemp: the student temperature `τs`.
  ///   - centerMomentum: the center's momentum.
  ///   - centering: `.center` (official DINO) or `.sinkhornKnopp(iterations:)` (DINOv2).
  public init(
    outDim: Int, studentTemp: Double = 0.1, centerMomentum: Double = 0.9,
    centering: TeacherCentering = .center,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    let loc = session.userLoc(file, line, column)
    if outDim < 1 { session.error("DINOLoss: outDim must be positive, got \(outDim)", at: loc) }
    if !(studentTemp > 0) {
      session.error("DINOLoss: studentTemp must be positive, got \(studentTemp)", at: loc)
    }
    center = Parameter(
      [1, max(outDim, 1)], init: .zeros, trainable: false, file: file, line: line, column: column)
    self.outDim = outDim
    self.studentTemp = studentTemp
    self.centerMomentum = centerMomentum
    self.centering = centering
    if !(0...1).contains(centerMomentum) {
      session.error("DINOLoss: centerMomentum must be within 0...1, got \(centerMomentum)", at: loc)
    }
    if case .sinkhornKnopp(let iterations) = centering, iterations < 1 {
      session.error(
        "DINOLoss: Sinkhorn-Knopp needs at least 1 iteration, got \(iterations)", at: loc)
    }
  }

  /// The loss `f32[]`; also records the center update.
  /// - Parameters:
  ///   - student: student logits `[V·B, K]`, view-major, the two global views first.
  ///   - teacher: teacher logits `[2B, K]` of the two global views.
  ///   - teacherTemp: `τt`, an `f32[]` tensor (the runtime's per-epoch schedule value).
  /// - Returns: the scalar loss.
  public func callAsFunction(
    student: Tensor, teacher: Tensor, teacherTemp: Tensor,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    record(
      student: student, teacher: teacher, teacherTemp: teacherTemp, statistics: false,
      file: file, line: line, column: column
    ).loss
  }

  /// The loss and the teacher statistics a training monitor reads (`DINOLossOutputs`);
  /// also records the center update. The statistics read the step's own teacher softmax,
  /// come after the loss and receive no gradient: the loss and the updates are those of
  /// `callAsFunction`, bit for bit.
  /// - Parameters:
  ///   - student: student logits `[V·B, K]`, view-major, the two global views first.
  ///   - teacher: teacher logits `[2B, K]` of the two global views.
  ///   - teacherTemp: `τt`, an `f32[]` tensor.
  /// - Returns: the loss and the statistics, each `f32[]`.
  public func withStatistics(
    student: Tensor, teacher: Tensor, teacherTemp: Tensor,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> DINOLossOutputs {
    record(
      student: student, teacher: teacher, teacherTemp: teacherTemp, statistics: true,
      file: file, line: line, column: column)
  }

  /// Records the loss, optionally the statistics, then the center update.
  private func record(
    student: Tensor, teacher: Tensor, teacherTemp: Tensor, statistics: Bool,
    file: String, line: UInt, column: UInt
  ) -> DINOLossOutputs {
    scoped(file: file, line: line, column: column) {
      let loc = session.scopes.last?.loc ?? .unknown
      guard let shape = layout(student: student, teacher: teacher, at: loc) else {
        let bad = session.invalid([], at: loc)
        return DINOLossOutputs(loss: bad, statistics: nil)
      }
      let views = shape.1
      let c = center.value
      // softmax((teacher_output − center) / temp); or the Sinkhorn-Knopp targets, whose
      // log-domain logits give them by the same softmax.
      let z: Tensor
      switch centering {
      case .center:
        z = (teacher - c) / teacherTemp
      case .sinkhornKnopp(let iterations):
        z = sinkhornKnoppLogits(teacher, temperature: teacherTemp, iterations: iterations)
      }
      let p = softmax(z)
      // All 2V − 2 pairs in one op: one pass over each student row (log_softmax of
      // student / τs, its 1/τs a double attribute, and the dot products with its teacher
      // rows); its gradient is the closed form, none into the targets.
      let loss = dinoCrossEntropy(
        student: student, targets: p, views: views, studentTemp: studentTemp,
        file: file, line: line, column: column)
      let stats =
        statistics
        ? TeacherStatistics.record(logits: z, probabilities: p, negated: -p, center: c) : nil
      updateCenter(c, teacher: teacher)
      return DINOLossOutputs(loss: loss, statistics: stats)
    }
  }

  /// `center ← m·center + (1 − m)·(Σ_rows t) / rows`, as official `update_center` (one rank).
  private func updateCenter(_ c: Tensor, teacher: Tensor) {
    let batchCenter = sum(teacher, axis: 0, keepDims: true) / constant(Double(teacher.shape[0]))
    assign(c, c * centerMomentum + batchCenter * (1 - centerMomentum))
  }

  /// `(B, V)` from the logits' shapes, or `nil` after reporting why they do not fit.
  private func layout(student: Tensor, teacher: Tensor, at loc: SourceLoc) -> (Int, Int)? {
    // A bad outDim or temperature was reported where the loss was created.
    guard student.isValid && teacher.isValid, outDim >= 1, studentTemp > 0 else { return nil }
    func fail(_ message: String) -> (Int, Int)? {
      session.error("DINOLoss: \(message)", at: loc)
      return nil
    }
    guard student.rank == 2, teacher.rank == 2 else {
      return fail(
        "expects logits [rows, K], got student \(shapeText(student.shape)) and teacher \(shapeText(teacher.shape))"
      )
    }
    guard student.shape[1] == outDim, teacher.shape[1] == outDim else {
      return fail(
        "expects \(outDim) logits per row, got student \(shapeText(student.shape)) and teacher \(shapeText(teacher.shape))"
      )
    }
    let teacherRows = teacher.shape[0]
    let studentRows = student.shape[0]
    guard teacherRows % 2 == 0 else {
      return fail("the teacher's \(teacherRows) rows are not two global views of one batch")
    }
    let batch = teacherRows / 2
    guard studentRows % batch == 0, studentRows / batch >= 2 else {
      return fail(
        "the student's \(studentRows) rows are not at least two views of the teacher's batch \(batch)"
      )
    }
    return (batch, studentRows / batch)
  }
}
