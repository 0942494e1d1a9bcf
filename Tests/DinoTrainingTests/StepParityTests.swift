import DinoIR
import DinoPlan
import DinoRuntime
import DinoTraining
import Foundation
import XCTest
import _DinoTestSupport

/// One DINO training step against official facebookresearch/dino (the committed references
/// of tools/make_dino_reference.py, computed in float64): Samples/fashion_mnist.swift
/// compiled by the built `dinoc` with each case's `-D` flags, run by `DINOTrainer` and by
/// the built `dino-run step`.
///
/// Tolerances. Loss, center and every parameter whose gradient is well above AdamW's ε are
/// compared within a few float32 ulps. AdamW's first step moves a parameter by
/// lr·g/(|g|+ε) (ε = 1e-8), so where |g| is within a few orders of ε of 0 the step is
/// decided by float32 rounding of g itself: the key bias of every attention (whose gradient
/// is exactly 0, softmax being shift-invariant) moves by up to 2 % of lr here but by 1e-14
/// in float64. Each element's tolerance therefore adds the step's sensitivity to a
/// gradient error δg = 1e-5·max|g| of its tensor:
/// lr·min(2, δg·ε/(max(|g|−δg, 0)+ε)²), with g this run's clipped gradient
/// (adam_m / (1−β1)). The teacher inherits (1−m) of it. Measured: the worst error is
/// under 0.25 of its tolerance; loss within 2e-7 relative.
final class StepParityTests: XCTestCase {
  /// One reference case.
  struct Case {
    var name: String
    var defines: [String]
    var loss: Double
    var lr: Double
    var wd: Double
    var momentum: Double
    var teacherTemp: Double
    var epoch: Int
    var initial: SafeTensors
    var crops: SafeTensors
    var expected: SafeTensors

    var scalars: DINOTrainer.Scalars {
      DINOTrainer.Scalars(
        lr: lr, weightDecay: wd, momentum: momentum, teacherTemp: teacherTemp,
        lastLayerGate: epoch < 1 ? 0 : 1, seed: 0)
    }
  }

  static let cases = ["step_epoch0", "step_epoch1", "step_epoch1_nll0"]

  func testEpoch0FrozenLastLayer() throws { try checkParity("step_epoch0") }
  func testEpoch1() throws { try checkParity("step_epoch1") }
  func testEpoch1TrainableWeightG() throws { try checkParity("step_epoch1_nll0") }

  /// `dino-run step` (the process) writes what `DINOTrainer` computes, with official names,
  /// and prints the loss on one line; scalars come from the flags.
  func testStepCommandMatchesTrainer() throws {
    let c = try Self.load("step_epoch1")
    let dir = try temporaryDirectory()
    let plan = try Self.compile(c.defines, in: dir)
    let trainer = try DINOTrainer(plan: plan)
    try trainer.loadWeights(c.initial)
    try trainer.setCrops(c.crops)
    let loss = try trainer.step(c.scalars)

    let reference = Self.referenceFolder
    let result = try DinoTool.run(
      "dino-run",
      [
        "step", plan, "--init", reference + "/step_epoch1.init.safetensors", "--crops",
        reference + "/step_epoch1.crops.safetensors", "-o", dir + "/after.safetensors",
        "--epoch", "1", "--lr", "\(c.lr)", "--wd", "\(c.wd)", "--momentum", "\(c.momentum)",
        "--teacher-temp", "\(c.teacherTemp)",
      ])
    XCTAssertEqual(result.status, 0, result.stderr)
    XCTAssertEqual(result.stdout, "loss \(loss)\n")
    let written = try SafeTensors.read(contentsOf: dir + "/after.safetensors")
    XCTAssertEqual(Set(written.tensors.keys), Set(c.expected.tensors.keys))
    for (name, tensor) in written.tensors {
      XCTAssertEqual(tensor.floats, Array(try trainer.runtime.buffer(name)), name)
    }
  }

  /// Without --lr/--wd/--momentum/--teacher-temp, the scalars are the schedules' at epoch E's
  /// first iteration with one iteration per epoch, and the epoch sets the freeze.
  func testStepCommandUsesSchedules() throws {
    let c = try Self.load("step_epoch0")
    let dir = try temporaryDirectory()
    let plan = try Self.compile(c.defines + ["-D", "epochs=4", "-D", "warmup_epochs=2"], in: dir)
    let trainer = try DINOTrainer(plan: plan)
    let schedules = try trainer.schedules(iterationsPerEpoch: 1)
    for epoch in [0, 2] {
      let scalars = DINOTrainer.scalars(schedules, epoch: epoch, iteration: 0, seed: 0)
      XCTAssertEqual(scalars.lastLayerGate, epoch == 0 ? 0 : 1)
      try trainer.loadWeights(c.initial)
      try trainer.setCrops(c.crops)
      let loss = try trainer.step(scalars)
      let out = dir + "/after\(epoch).safetensors"
      let result = try DinoTool.run(
        "dino-run",
        [
          "step", plan, "--init", Self.referenceFolder + "/step_epoch0.init.safetensors",
          "--crops", Self.referenceFolder + "/step_epoch0.crops.safetensors", "-o", out,
          "--epoch", "\(epoch)",
        ])
      XCTAssertEqual(result.status, 0, result.stderr)
      XCTAssertEqual(result.stdout, "loss \(loss)\n")
      let written = try SafeTensors.read(contentsOf: out)
      for name in trainer.weightNames {
        XCTAssertEqual(written.tensors[name]?.floats, Array(try trainer.runtime.buffer(name)), name)
      }
    }
    // Epoch 2 is past the 2-epoch warmup: lr is the peak lr·batch/256; epoch 0's lr is 0.
    XCTAssertEqual(schedules.lr(0), 0)
    XCTAssertEqual(schedules.lr(2), 0.0005 * 2 / 256, accuracy: 1e-15)
  }

  /// Bad crops and bad weights are refused with one line each.
  func testStepCommandErrors() throws {
    let c = try Self.load("step_epoch1")
    let dir = try temporaryDirectory()
    let plan = try Self.compile(c.defines, in: dir)
    var crops = c.crops
    crops.tensors["crop2"] = crops.tensors["crop0"]
    try crops.write(to: dir + "/badshape.safetensors")
    crops = c.crops
    crops.tensors["crop4"] = crops.tensors["crop3"]
    try crops.write(to: dir + "/extra.safetensors")
    crops = c.crops
    crops.tensors["crop1"] = nil
    try crops.write(to: dir + "/missing.safetensors")
    var weights = c.initial
    weights.tensors["student.backbone.cls_token"] = nil
    try weights.write(to: dir + "/partial.safetensors")
    weights = c.initial
    weights.tensors["adam_m.student.backbone.cls_token"] = weights.tensors["center"]
    try weights.write(to: dir + "/foreign.safetensors")
    let initial = Self.referenceFolder + "/step_epoch1.init.safetensors"
    let good = Self.referenceFolder + "/step_epoch1.crops.safetensors"
    let takes = "the plan takes crop0 f32[2,1,28,28], crop1 f32[2,1,28,28], crop2 f32[2,1,12,12]"
    for (crops, weights, text) in [
      (dir + "/badshape.safetensors", initial, "'crop2' is f32[2,1,28,28]; " + takes),
      (dir + "/extra.safetensors", initial, "has a tensor 'crop4' that is not a crop"),
      (dir + "/missing.safetensors", initial, "has no tensor 'crop1'; " + takes),
      (good, dir + "/partial.safetensors", "'student.backbone.cls_token' is missing"),
      (good, dir + "/foreign.safetensors", "'adam_m.student.backbone.cls_token' is not a weight"),
    ] {
      let result = try DinoTool.run(
        "dino-run", ["step", plan, "--init", weights, "--crops", crops, "-o", dir + "/x"])
      XCTAssertEqual(result.status, 1, result.stderr)
      XCTAssertTrue(result.stderr.hasPrefix("dino-run: error: "), result.stderr)
      XCTAssertTrue(result.stderr.contains(text), "\"\(result.stderr)\" lacks \"\(text)\"")
      XCTAssertEqual(result.stderr.filter { $0 == "\n" }.count, 1, result.stderr)
      XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/x"))
    }
  }

  /// Without teacher.* and center in --init, the teacher starts as a copy of the student and
  /// the center at zero (official DINO's start); without --init, the init specs and --seed.
  func testMissingTeacherAndCenter() throws {
    let c = try Self.load("step_epoch1")
    let dir = try temporaryDirectory()
    let trainer = try DINOTrainer(plan: try Self.compile(c.defines, in: dir))
    var studentOnly = c.initial
    for name in studentOnly.tensors.keys where !name.hasPrefix("student.") {
      studentOnly.tensors[name] = nil
    }
    let sources = try trainer.loadWeights(studentOnly)
    XCTAssertTrue(sources.studentFromFile)
    XCTAssertFalse(sources.teacherFromFile)
    XCTAssertFalse(sources.centerFromFile)
    for name in trainer.teacherBuffers {
      let twin = "student" + name.dropFirst("teacher".count)
      XCTAssertEqual(Array(try trainer.runtime.buffer(name)), c.initial.tensors[twin]!.floats)
    }
    XCTAssertTrue(try trainer.runtime.buffer("center").allSatisfy { $0 == 0 })

    try trainer.loadWeights(SafeTensors(), seed: 3)
    let seeded = try trainer.runtime.buffer("student.backbone.pos_embed").map { $0 }
    try trainer.initialize(seed: 3)
    XCTAssertEqual(Array(try trainer.runtime.buffer("student.backbone.pos_embed")), seeded)
    XCTAssertNotEqual(seeded, c.initial.tensors["student.backbone.pos_embed"]!.floats)
  }

  /// The `ema` program writes the teacher buffers only (everything else stays bitwise
  /// equal) and computes m·teacher + (1−m)·student.
  func testEMAChangesOnlyTheTeacher() throws {
    let c = try Self.load("step_epoch1")
    let dir = try temporaryDirectory()
    let trainer = try DINOTrainer(plan: try Self.compile(c.defines, in: dir))
    try trainer.initialize(seed: 7)
    // Make every buffer distinct so a stray write shows.
    for (index, name) in trainer.runtime.bufferNames.enumerated() {
      let buffer = try trainer.runtime.buffer(name)
      let values = randomFloats(buffer.count, seed: UInt64(index + 1))
      _ = buffer.update(fromContentsOf: values)
    }
    var before: [String: [Float]] = [:]
    for name in trainer.runtime.bufferNames {
      before[name] = Array(try trainer.runtime.buffer(name))
    }
    let m: Float = 0.75
    try trainer.updateTeacher(momentum: Double(m))
    XCTAssertFalse(trainer.teacherBuffers.isEmpty)
    for name in trainer.runtime.bufferNames {
      let after = Array(try trainer.runtime.buffer(name))
      if name.hasPrefix("teacher.") {
        let student = before["student" + name.dropFirst("teacher".count)]!
        let expected = zip(before[name]!, student).map { m * $0 + (1 - m) * $1 }
        assertClose(after, expected.map(Double.init), atol: 1e-7, rtol: 1e-6, name)
        XCTAssertNotEqual(after, before[name]!, name)
      } else {
        XCTAssertEqual(after, before[name]!, "\(name) changed in @ema")
      }
    }
  }

  /// The EMA is not part of the gradient graph: after autodiff no ema_update exists; in the
  /// plan only @ema has them, one per teacher buffer, and @train_step writes no teacher
  /// buffer.
  func testEMAIsOutsideTheGradientGraph() throws {
    let c = try Self.load("step_epoch1")
    let dump = try DinoTool.run(
      "dinoc",
      ["dump", Self.packageRoot + "/Samples/fashion_mnist.swift", "--after", "autodiff"]
        + c.defines)
    XCTAssertEqual(dump.status, 0, dump.stderr)
    let trainStep = Self.section("train_step", of: dump.stdout)
    XCTAssertTrue(trainStep.contains("grad."), "no gradients after autodiff")
    XCTAssertFalse(dump.stdout.contains("ema_update"))

    let dir = try temporaryDirectory()
    let graph = try PlanReader.read(contentsOf: try Self.compile(c.defines, in: dir))
    let teachers = graph.buffers().filter { $0.region == "teacher" }.count
    for program in graph.programs {
      // Teacher tensors updated: one per ema_update, one per segment of an ema_flat.
      let emas = program.nodes.reduce(0) { count, node in
        node.op == .emaUpdate
          ? count + 1
          : node.op == .emaFlat
            ? count + program.nodes[node.operands[3].index].type.shape[0]
            : count
      }
      XCTAssertEqual(emas, program.name == "ema" ? teachers : 0, program.name)
      for node in program.nodes where node.op.isEffect {
        let target = program.nodes[node.operands[0].index].attrs.string("name")
        if program.name == "train_step" {
          XCTAssertFalse(target.hasPrefix("teacher."), "@train_step writes \(target)")
        }
      }
    }
  }

  // MARK: - Parity

  /// Runs case `name` and compares it with the official results.
  func checkParity(_ name: String) throws {
    let c = try Self.load(name)
    let dir = try temporaryDirectory()
    let trainer = try DINOTrainer(plan: try Self.compile(c.defines, in: dir))
    try trainer.loadWeights(c.initial)
    try trainer.setCrops(c.crops)
    let loss = try trainer.step(c.scalars)
    XCTAssertEqual(Double(loss), c.loss, accuracy: 2e-6 * abs(c.loss), "\(name): loss")

    XCTAssertEqual(
      Set(trainer.weightNames), Set(c.expected.tensors.keys), "\(name): weight names")
    var table = ParityTable()
    var studentTolerance: [String: [Double]] = [:]
    for student in trainer.studentBuffers {
      let got = Array(try trainer.runtime.buffer(student))
      let expected = c.expected.tensors[student]!.floats
      let (tolerance, sensitive) = try Self.tolerance(
        student, trainer: trainer, expected: expected, c: c)
      studentTolerance[student] = tolerance
      table.add(
        Self.group(of: student), student, got: got, expected: expected, tolerance: tolerance,
        sensitive: sensitive)
      if c.epoch < 1 && student.contains("last_layer") {
        XCTAssertTrue(got == c.initial.tensors[student]!.floats, "\(student) moved while frozen")
        if trainer.optimizerBuffers.contains("adam_step." + student) {
          XCTAssertEqual(try trainer.runtime.buffer("adam_step." + student)[0], 0, student)
        }
      }
    }
    for teacher in trainer.teacherBuffers {
      let got = Array(try trainer.runtime.buffer(teacher))
      let expected = c.expected.tensors[teacher]!.floats
      let inherited = studentTolerance["student" + teacher.dropFirst("teacher".count)]!
      let tolerance = zip(inherited, expected).map { (1 - c.momentum) * $0 + Self.ulps(4, $1) }
      table.add("teacher", teacher, got: got, expected: expected, tolerance: tolerance)
    }
    let center = c.expected.tensors["center"]!.floats
    table.add(
      "center", "center", got: Array(try trainer.runtime.buffer("center")), expected: center,
      tolerance: center.map { 1e-7 + 2e-6 * abs(Double($0)) })
    print("\(name): loss \(loss) (official \(c.loss))\n\(table.text)")
    for failure in table.failures.prefix(10) { XCTFail("\(name): \(failure)") }
  }

  /// Per-element tolerance for student buffer `name` (see the type's comment), and how many
  /// elements are gradient-sensitive (their tolerance has a sensitivity term above 1e-3·lr).
  static func tolerance(_ name: String, trainer: DINOTrainer, expected: [Float], c: Case)
    throws -> (tolerance: [Double], sensitive: Int)
  {
    let floor = expected.map { ulps(4, $0) }
    let state = "adam_step." + name
    guard trainer.runtime.bufferNames.contains(state),
      try trainer.runtime.buffer(state)[0] > 0
    else { return (floor, 0) }  // not trainable, or frozen: compared within ulps
    let m = try trainer.runtime.buffer("adam_m." + name)
    let g = m.map { abs(Double($0)) / 0.1 }  // first step: m = (1 − β1)·g
    let dg = 1e-5 * (g.max() ?? 0) + 1e-12
    let eps = 1e-8
    let sensitivity = g.map { g in
      let spread = max(g - dg, 0) + eps
      return min(2, dg * eps / (spread * spread))
    }
    return (
      zip(floor, sensitivity).map { $0 + c.lr * (1e-4 + $1) },
      sensitivity.filter { $0 > 1e-3 }.count
    )
  }

  /// k ulps of `x` in float32, at least k·2⁻¹⁴⁹·2²³ (so zeros get a tiny floor).
  static func ulps(_ k: Double, _ x: Float) -> Double {
    k * Double(max(abs(x), 1e-30).ulp)
  }

  /// backbone, head, last_layer (student), by name.
  static func group(of name: String) -> String {
    if name.contains("last_layer") { return "last_layer" }
    return name.hasPrefix("student.head.") ? "head" : "backbone"
  }

  // MARK: - Files and tools

  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().path

  static let referenceFolder = packageRoot + "/Tests/DinoTrainingTests/Reference"

  /// Reads case `name`: its three files and the metadata.
  static func load(_ name: String) throws -> Case {
    let base = referenceFolder + "/" + name
    let initial = try SafeTensors.read(contentsOf: base + ".init.safetensors")
    let crops = try SafeTensors.read(contentsOf: base + ".crops.safetensors")
    let expected = try SafeTensors.read(contentsOf: base + ".expected.safetensors")
    let meta = expected.metadata
    func number(_ key: String) throws -> Double {
      guard let text = meta[key], let value = Double(text) else {
        throw DinoTool.Failure("\(name): metadata has no number '\(key)'")
      }
      return value
    }
    let json = Data((meta["defines"] ?? "").utf8)
    guard let flags = try? JSONDecoder().decode([String: Double].self, from: json) else {
      throw DinoTool.Failure("\(name): metadata 'defines' is not a JSON object of numbers")
    }
    let defines = flags.keys.sorted().flatMap { key -> [String] in
      let value = flags[key]!
      let text = value == value.rounded() ? String(Int(value)) : String(value)
      return ["-D", "\(key)=\(text)"]
    }
    return Case(
      name: name, defines: defines, loss: try number("loss"), lr: try number("lr"),
      wd: try number("wd"), momentum: try number("momentum"),
      teacherTemp: try number("teacher_temp"), epoch: Int(try number("epoch")),
      initial: initial, crops: crops, expected: expected)
  }

  /// Compiles Samples/fashion_mnist.swift with `defines` into `folder`; returns the plan.
  /// `defines` may repeat a name (a test's overrides after a shared list): the last wins,
  /// as dinoc itself refuses a repeated `-D`.
  static func compile(_ defines: [String], in folder: String) throws -> String {
    let plan = folder + "/plan.bin"
    let result = try DinoTool.run(
      "dinoc",
      ["compile", packageRoot + "/Samples/fashion_mnist.swift", "-o", plan]
        + mergedDefines(defines))
    guard result.status == 0 else {
      throw DinoTool.Failure("dinoc compile failed:\n\(result.stderr)")
    }
    return plan
  }

  /// The lines of program `name` in a `dinoc dump` text.
  static func section(_ name: String, of dump: String) -> String {
    guard let start = dump.range(of: "program @\(name) {") else { return "" }
    let rest = dump[start.upperBound...]
    let end = rest.range(of: "\n}")?.lowerBound ?? rest.endIndex
    return String(rest[..<end])
  }
}

/// Max abs / max rel error per group, and the elements outside their tolerance.
struct ParityTable {
  struct Row {
    var elements = 0
    var maxAbs = 0.0
    var maxRel = 0.0
    var sensitive = 0
    var worst = 0.0
  }
  var rows: [(String, Row)] = []
  var failures: [String] = []

  /// Adds tensor `name` to `group`. Relative errors count elements with |expected| ≥ 1e-3;
  /// `sensitive` is how many of its elements have a gradient near 0 for AdamW.
  mutating func add(
    _ group: String, _ name: String, got: [Float], expected: [Float], tolerance: [Double],
    sensitive: Int = 0
  ) {
    var index = rows.firstIndex { $0.0 == group }
    if index == nil {
      rows.append((group, Row()))
      index = rows.count - 1
    }
    guard got.count == expected.count else {
      failures.append("\(name): \(got.count) elements, expected \(expected.count)")
      return
    }
    rows[index!].1.sensitive += sensitive
    for i in got.indices {
      let e = Double(expected[i])
      let d = abs(Double(got[i]) - e)
      rows[index!].1.elements += 1
      rows[index!].1.maxAbs = max(rows[index!].1.maxAbs, d)
      if abs(e) >= 1e-3 { rows[index!].1.maxRel = max(rows[index!].1.maxRel, d / abs(e)) }
      rows[index!].1.worst = max(rows[index!].1.worst, d / tolerance[i])
      if !(d <= tolerance[i]) {
        failures.append("\(name)[\(i)]: \(got[i]) vs official \(e) (tolerance \(tolerance[i]))")
      }
    }
  }

  var text: String {
    var lines = ["group        elements  max abs    max rel    near-zero-grad  worst err/tol"]
    for (group, row) in rows {
      lines.append(
        group.padding(toLength: 12, withPad: " ", startingAt: 0)
          + String(
            format: " %8d  %.3e  %.3e  %14d  %.3f", row.elements, row.maxAbs, row.maxRel,
            row.sensitive, row.worst))
    }
    return lines.joined(separator: "\n")
  }
}

/// The built `dinoc` and `dino-run`, run as processes.
enum DinoTool {
  /// A failure of the test harness (a tool missing, a file unreadable).
  struct Failure: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
  }

  /// The build folder: the test bundle's own, else `.build/debug`.
  static let buildDirectory: String = {
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      let folder = URL(fileURLWithPath: exe).deletingLastPathComponent().path
      if FileManager.default.isExecutableFile(atPath: folder + "/dinoc") { return folder }
    }
    return StepParityTests.packageRoot + "/.build/debug"
  }()

  /// Runs tool `name` (`dinoc`, `dino-run`) from the build folder.
  static func run(_ name: String, _ arguments: [String]) throws
    -> (status: Int32, stdout: String, stderr: String)
  {
    let path = buildDirectory + "/" + name
    guard FileManager.default.isExecutableFile(atPath: path) else {
      throw Failure("no \(name) at \(path): run 'swift build' before 'swift test'")
    }
    let scratch = NSTemporaryDirectory() + "dino-tool-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let out = scratch + "/stdout"
    let err = scratch + "/stderr"
    _ = FileManager.default.createFile(atPath: out, contents: nil)
    _ = FileManager.default.createFile(atPath: err, contents: nil)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: path)
    process.arguments = arguments
    var environment = ProcessInfo.processInfo.environment
    environment["XDG_CACHE_HOME"] = buildDirectory + "/dinoc-test-cache"
    process.environment = environment
    process.standardOutput = try FileHandle(forWritingTo: URL(fileURLWithPath: out))
    process.standardError = try FileHandle(forWritingTo: URL(fileURLWithPath: err))
    try process.run()
    process.waitUntilExit()
    return (
      process.terminationStatus, (try? String(contentsOfFile: out, encoding: .utf8)) ?? "",
      (try? String(contentsOfFile: err, encoding: .utf8)) ?? ""
    )
  }
}
