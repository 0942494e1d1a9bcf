import DinoPlan
import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// `dinoc compile` with hostile arguments: outputs over inputs, folders, repeated and
/// out-of-range options, models without programs, plans larger than the machine.
final class HostileCompileTests: XCTestCase {
  private var mlp: String { StepParityTests.packageRoot + "/Samples/mlp.swift" }
  private var dinoSample: String { StepParityTests.packageRoot + "/Samples/fashion_mnist.swift" }

  /// A copy of Samples/mlp.swift in a fresh folder.
  private func modelCopy() throws -> (dir: String, model: String) {
    let dir = try temporaryDirectory()
    let model = dir + "/m.swift"
    try FileManager.default.copyItem(atPath: mlp, toPath: model)
    return (dir, model)
  }

  func testOutputOverTheModelIsRefused() throws {
    let (dir, model) = try modelCopy()
    try assertRefused(
      "dinoc", ["compile", model, "-o", model],
      "-o '\(model)' is the same file as the input model '\(model)'", unchanged: [model])
    try FileManager.default.linkItem(atPath: model, toPath: dir + "/hard.swift")
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/link.bin", withDestinationPath: model)
    let folderName = URL(fileURLWithPath: dir).lastPathComponent
    for output in ["hard.swift", "link.bin", "../\(folderName)/./m.swift"] {
      try assertRefused(
        "dinoc", ["compile", model, "-o", dir + "/" + output],
        "is the same file as the input model", unchanged: [model])
    }
    try assertRefused(
      "dinoc", ["compile", model, "-o", dir + "/p.bin", "--emit-graph-json", dir + "/p.bin"],
      "--emit-graph-json '\(dir)/p.bin' is the same file as -o", unchanged: [dir + "/p.bin"])
  }

  func testOutputNamingAFolderIsOneLine() throws {
    let (dir, model) = try modelCopy()
    try assertRefused(
      "dinoc", ["compile", model, "-o", dir], "-o '\(dir)' is a folder: give a file path",
      unchanged: [model])
  }

  func testRepeatedDefineAndMissingOutput() throws {
    let (dir, model) = try modelCopy()
    try assertRefused(
      "dinoc", ["compile", model, "-D", "dim=8", "-D", "dim=16", "-o", dir + "/p.bin"],
      "-D dim is given twice (-D dim=8, -D dim=16): keep one", unchanged: [dir + "/p.bin"])
    try assertRefused(
      "dinoc", ["compile", model], "compiles, but nothing was written: give -o plan.bin",
      unchanged: [model])
  }

  func testModelWithoutProgramsIsRefused() throws {
    let dir = try temporaryDirectory()
    let model = dir + "/empty.swift"
    try "// dino-dsl-version: 1\nimport DinoDSL\nModel(\"empty\") { _ in }\n".write(
      toFile: model, atomically: true, encoding: .utf8)
    try assertRefused(
      "dinoc", ["compile", model, "-o", dir + "/p.bin"],
      "Model 'empty' has no programs", unchanged: [dir + "/p.bin"])
  }

  /// Each bad hyper-parameter is reported at the sample's `withOptions()` call, in one line.
  func testHyperParametersOutOfRangeAreRefusedAtCompileTime() throws {
    let dir = try temporaryDirectory()
    let plan = dir + "/p.bin"
    for (define, text) in [
      ("lr=-1", "DINO: lr = -1: must be ≥ 0 and finite"),
      ("lr=nan", "DINO: lr = nan: must be ≥ 0 and finite"),
      ("momentum_teacher=7", "DINO: momentum_teacher = 7: must be in [0, 1]"),
      ("teacher_temp=0", "DINO: teacher_temp = 0: must be > 0 and finite"),
      ("global_scale_min=2", "DINO: global_scale_min = 2: must be in (0, 1]"),
      (
        "global_scale_min=0.9",
        "DINO: global_scale_min = 0.9 is above global_scale_max = 0.5: must be at most it"
      ),
      ("epochs=1000000000", "DINO: epochs = 1000000000: must be a whole number in 1...1000000"),
    ] {
      var defines = TrainTests.tiny
      let key = define.prefix { $0 != "=" }
      if let index = defines.firstIndex(where: { $0.hasPrefix(key + "=") }) {
        defines.remove(at: index - 1)
        defines.remove(at: index - 1)
      }
      if key == "global_scale_min" { defines += ["-D", "global_scale_max=0.5"] }
      let line = try assertRefused(
        "dinoc", ["compile", dinoSample, "-o", plan] + defines + ["-D", define],
        "\(dinoSample):", unchanged: [plan])
      XCTAssertTrue(line.hasSuffix(text + "\n"), "\(define): \(line)")
    }
  }

  /// `-D dim=4000000000` compiles to a 4 TB plan: dinoc refuses it with the numbers, writes
  /// it with --allow-large, and dino-run refuses to allocate it.
  func testPlansLargerThanTheMachineAreRefused() throws {
    let (dir, model) = try modelCopy()
    let plan = dir + "/big.bin"
    try assertRefused(
      "dinoc", ["compile", model, "-D", "dim=4000000000", "-o", plan],
      "of memory; nothing was written: shrink the model (-D …) or pass --allow-large",
      unchanged: [plan])
    let allowed = try DinoTool.run(
      "dinoc", ["compile", model, "-D", "dim=4000000000", "-o", plan, "--allow-large"])
    XCTAssertEqual(allowed.status, 0, allowed.stderr)
    XCTAssertTrue(allowed.stdout.hasPrefix("wrote \(plan): memory arena "), allowed.stdout)
    try assertRefused(
      "dino-run", ["exec", plan, "--program", "forward", "-o", dir + "/out.safetensors"],
      "of memory available now (MemAvailable)", unchanged: [dir + "/out.safetensors"])
  }

  /// An allocation that fails (here under `ulimit -v`, 1.5 GB for a 2 GB plan) is one line,
  /// not a trap.
  func testAFailedAllocationIsOneLine() throws {
    guard (MachineMemory.available ?? 0) > 3 << 30 else {
      throw XCTSkip("needs 3 GiB available so that the MemAvailable check passes")
    }
    let (dir, model) = try modelCopy()
    let plan = dir + "/two.bin"
    let compiled = try DinoTool.run(
      "dinoc", ["compile", model, "-D", "dim=8192", "-D", "hidden=16384", "-o", plan])
    XCTAssertEqual(compiled.status, 0, compiled.stderr)
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/bin/sh")
    let tool = DinoTool.buildDirectory + "/dino-run"
    process.arguments = [
      "-c", "ulimit -v 1500000 && exec \"$0\" exec \"$1\" --program forward -o \"$2\"", tool,
      plan, dir + "/out.safetensors",
    ]
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    XCTAssertEqual(process.terminationStatus, 1, text)
    XCTAssertEqual(
      text,
      "dino-run: error: cannot allocate 2148204608 bytes for the plan's buffers: free memory "
        + "or compile a smaller model\n")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/out.safetensors"))
  }
}
