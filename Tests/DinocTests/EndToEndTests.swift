import DinoIR
import DinoRandom
import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// model.swift → `dinoc compile` → plan.bin → `dinoc dump` / `dino-run exec`, on the samples.
final class EndToEndTests: XCTestCase {
  /// The samples with the overrides that keep them quick in a debug build.
  static let samples: [(file: String, defines: [String])] = [
    ("mlp.swift", []),
    (
      "fashion_mnist.swift",
      [
        "-D", "depth=2", "-D", "dim=32", "-D", "heads=2", "-D", "out_dim=256",
        "-D", "hidden_dim=64", "-D", "bottleneck_dim=32", "-D", "batch=4",
      ]
    ),
    (
      "vit_tiny_dino.swift",
      [
        "-D", "depth=2", "-D", "out_dim=1024", "-D", "batch=2",
        "-D", "hidden_dim=128", "-D", "bottleneck_dim=64",
      ]
    ),
  ]

  private func scratch() throws -> URL {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "dino-e2e-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
    return folder
  }

  private func sample(_ name: String) -> String {
    DinocRunner.packageRoot.appendingPathComponent("Samples/\(name)").path
  }

  /// Printing, parsing and printing again gives the same text and the same graph, for
  /// every sample, after autodiff and as a finished plan; an .ir file dumps to itself.
  func testEverySampleRoundTripsThroughTheTextForm() throws {
    let folder = try scratch()
    for (file, defines) in Self.samples {
      let plan = folder.appendingPathComponent("\(file).plan.bin").path
      let compile = try DinocRunner.run(["compile", sample(file), "-o", plan] + defines)
      XCTAssertEqual(compile.status, 0, "\(file): \(compile.stderr)")
      let planned = try DinocRunner.run(["dump", plan])
      let autodiff = try DinocRunner.run(["dump", sample(file), "--after", "autodiff"] + defines)
      for (stage, dump) in [("plan", planned), ("autodiff", autodiff)] {
        XCTAssertEqual(dump.status, 0, "\(file) \(stage): \(dump.stderr)")
        let graph = try parseIR(dump.stdout, fileName: "\(file).\(stage).ir")
        try Verifier.verify(graph)
        XCTAssertEqual(printIR(graph), dump.stdout, "\(file) after \(stage) round trip")
        XCTAssertEqual(try parseIR(printIR(graph)), graph, "\(file) after \(stage)")
      }
      if file != "mlp.swift" {
        XCTAssertTrue(autodiff.stdout.contains(" bw"), "\(file): backward nodes are marked")
      }
      let ir = folder.appendingPathComponent("\(file).ir")
      try planned.stdout.write(to: ir, atomically: true, encoding: .utf8)
      let again = try DinocRunner.run(["dump", ir.path])
      XCTAssertEqual(again.status, 0, again.stderr)
      XCTAssertEqual(again.stdout, planned.stdout, "\(file): dinoc dump file.ir reprints it")
    }
  }

  /// `dinoc dump --memory` states the arena and the liveness lower bound of each program.
  func testMemoryReportStatesArenaAndLowerBound() throws {
    let plan = try scratch().appendingPathComponent("mlp.plan.bin").path
    XCTAssertEqual(try DinocRunner.run(["compile", sample("mlp.swift"), "-o", plan]).status, 0)
    let dump = try DinocRunner.run(["dump", plan, "--memory"])
    XCTAssertEqual(dump.status, 0, dump.stderr)
    let line = dump.stdout.split(separator: "\n").first { $0.hasPrefix("memory @forward:") }
    XCTAssertNotNil(line, dump.stdout)
    XCTAssertTrue(line?.contains("lower bound") ?? false)
  }

  /// By default the compiler recomputes the cheapest activations (`dinoc compile` prints the
  /// recompute line, `dinoc dump --memory` reports it); `--no-recompute` gives the
  /// recompute-free plan, which `dinoc dump --no-recompute` runs the pipeline to as well;
  /// `--no-recompute` with `--memory-limit` is refused in one line.
  func testNoRecomputeGivesTheRecomputeFreePlan() throws {
    let (file, defines) = Self.samples[2]
    let folder = try scratch()
    let lean = folder.appendingPathComponent("lean.bin").path
    let none = folder.appendingPathComponent("none.bin").path
    let leanRun = try DinocRunner.run(["compile", sample(file), "-o", lean] + defines)
    XCTAssertEqual(leanRun.status, 0, leanRun.stderr)
    XCTAssertTrue(leanRun.stdout.contains("\nrecompute: "), leanRun.stdout)
    let noneRun = try DinocRunner.run(
      ["compile", sample(file), "-o", none, "--no-recompute"] + defines)
    XCTAssertEqual(noneRun.status, 0, noneRun.stderr)
    XCTAssertFalse(noneRun.stdout.contains("recompute"), noneRun.stdout)
    func arenaLine(_ dump: DinocRunner.Result) -> String? {
      dump.stdout.split(separator: "\n").first { $0.hasPrefix("memory @train_step:") }
        .map(String.init)
    }
    let leanDump = try DinocRunner.run(["dump", lean, "--memory"])
    XCTAssertTrue(leanDump.stdout.contains("\nrecompute: "), leanDump.stdout)
    XCTAssertTrue(leanDump.stdout.contains(" views (reshapes sharing a slot)"), leanDump.stdout)
    let noneDump = try DinocRunner.run(["dump", none, "--memory"])
    XCTAssertFalse(noneDump.stdout.contains("\nrecompute: "), noneDump.stdout)
    XCTAssertNotEqual(arenaLine(leanDump), arenaLine(noneDump), "the default's arena differs")
    let piped = try DinocRunner.run(
      ["dump", sample(file), "--no-recompute", "--memory"] + defines)
    XCTAssertEqual(piped.status, 0, piped.stderr)
    XCTAssertFalse(piped.stdout.contains("\nrecompute: "))
    XCTAssertEqual(arenaLine(piped), arenaLine(noneDump))
    XCTAssertNotNil(arenaLine(piped))
    for command in ["compile", "dump"] {
      let both = try DinocRunner.run(
        [command, sample(file), "--no-recompute", "--memory-limit", "1G"]
          + (command == "compile" ? ["-o", none] : []) + defines)
      XCTAssertNotEqual(both.status, 0)
      XCTAssertEqual(
        both.errorLines,
        [
          "error: --memory-limit fits the plan by recomputing, which --no-recompute turns "
            + "off: drop one"
        ])
    }
  }

  /// `dino-run exec` on the compiled MLP sample agrees with the Double reference interpreter
  /// run on the same plan (read back through its text form), the same weights and input.
  func testExecOfTheMLPSampleAgreesWithTheReference() throws {
    let folder = try scratch()
    let plan = folder.appendingPathComponent("mlp.plan.bin").path
    XCTAssertEqual(try DinocRunner.run(["compile", sample("mlp.swift"), "-o", plan]).status, 0)
    let graph = try parseIR(try DinocRunner.run(["dump", plan]).stdout)
    let program = try XCTUnwrap(graph.program("forward"))
    let xType = try XCTUnwrap(program.nodes.first { $0.op == .input }?.type)

    var rng = SplitMix64(seed: 7)
    let x = (0..<xType.count).map { _ in Float(rng.nextNormal()) }
    let inputs = folder.appendingPathComponent("in.safetensors")
    try SafeTensors(tensors: ["x": HostTensor(shape: xType.shape, floats: x)]).write(
      to: inputs.path)
    let out = folder.appendingPathComponent("out.safetensors")
    let weights = folder.appendingPathComponent("weights.safetensors")
    let run = try runDinoRun([
      "exec", plan, "--program", "forward", "--inputs", inputs.path, "-o", out.path,
      "--params-out", weights.path, "--seed", "11", "--threads", "2",
    ])
    XCTAssertEqual(run.status, 0, run.stderr)

    let params = try SafetensorsReader(weights)
    var buffers: [String: ReferenceTensor] = [:]
    for buffer in graph.buffers() {
      buffers[buffer.name] = ReferenceTensor(
        shape: buffer.type.shape, data: try params.doubles(buffer.name))
    }
    let expected = try ReferenceInterpreter.run(
      program, inputs: ["x": ReferenceTensor(shape: xType.shape, floats: x)], buffers: &buffers)
    let y = try SafetensorsReader(out).doubles("y")
    let reference = try XCTUnwrap(expected["y"])
    XCTAssertEqual(y.count, reference.count)
    let worst = zip(y, reference.data).map { abs($0 - $1) / (1e-4 + abs($1)) }.max() ?? .infinity
    XCTAssertLessThan(worst, 1e-3, "dino-run exec vs reference, worst relative error \(worst)")
    XCTAssertGreaterThan(reference.data.map(abs).max() ?? 0, 0.01, "a non-trivial output")
  }

  /// Runs the built dino-run beside dinoc.
  private func runDinoRun(_ arguments: [String]) throws -> DinocRunner.Result {
    let exe = DinocRunner.buildDirectory.appendingPathComponent("dino-run")
    let process = Process()
    process.executableURL = exe
    process.arguments = arguments
    let err = Pipe()
    process.standardError = err
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let stderr = String(decoding: err.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return DinocRunner.Result(status: process.terminationStatus, stdout: "", stderr: stderr)
  }
}
