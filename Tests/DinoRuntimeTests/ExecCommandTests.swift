import DinoIR
import DinoPlan
import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run exec`, run as a process on plans written by `PlanWriter`.
final class ExecCommandTests: XCTestCase {
  /// The built `dino-run`, in the build folder that holds the test bundle.
  var executable: URL {
    let bundle = Bundle(for: Self.self).bundleURL
    let candidates = [
      bundle.appendingPathComponent("dino-run"),
      bundle.deletingLastPathComponent().appendingPathComponent("dino-run"),
    ]
    return candidates.first { FileManager.default.isExecutableFile(atPath: $0.path) }
      ?? candidates[1]
  }

  /// Runs `dino-run` with `arguments`; returns exit status and stderr.
  func dinoRun(_ arguments: [String]) throws -> (status: Int32, stderr: String) {
    let process = Process()
    process.executableURL = executable
    process.arguments = arguments
    let errors = Pipe()
    process.standardError = errors
    process.standardOutput = FileHandle.nullDevice
    try process.run()
    let text = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    process.waitUntilExit()
    return (process.terminationStatus, text)
  }

  /// Asserts a failed run with exactly one `dino-run: error:` line containing `text`.
  func assertFails(_ arguments: [String], _ text: String, line: UInt = #line) throws {
    let (status, stderr) = try dinoRun(arguments)
    XCTAssertEqual(status, 1, stderr, line: line)
    XCTAssertTrue(stderr.hasPrefix("dino-run: error: "), stderr, line: line)
    XCTAssertTrue(stderr.contains(text), "\"\(stderr)\" lacks \"\(text)\"", line: line)
    XCTAssertEqual(stderr.filter { $0 == "\n" }.count, 1, stderr, line: line)
  }

  func testExecRunsAProgram() throws {
    guard FileManager.default.isExecutableFile(atPath: executable.path) else {
      throw XCTSkip("dino-run is not built (run `swift build` first)")
    }
    let dir = try temporaryDirectory()
    let graph = try MLPTests.graph()
    try PlanWriter.write(graph, to: dir + "/plan.bin")
    let x = HostTensor(
      shape: [MLPTests.batch, MLPTests.tokens, MLPTests.dim],
      floats: randomFloats(MLPTests.batch * MLPTests.tokens * MLPTests.dim, seed: 1))
    try SafeTensors(tensors: ["x": x]).write(to: dir + "/in.safetensors")

    // The same run in process.
    let runtime = try Runtime(graph: graph)
    try runtime.initializeParameters(seed: 5)
    let expected = try runtime.execute("forward", inputs: SafeTensors(tensors: ["x": x]))

    let base = [dir + "/plan.bin", "--program", "forward", "--inputs", dir + "/in.safetensors"]
    var (status, stderr) = try dinoRun(
      ["exec"] + base + [
        "-o", dir + "/out.safetensors", "--seed", "5",
        "--params-out", dir + "/params.safetensors",
      ])
    XCTAssertEqual(status, 0, stderr)
    XCTAssertEqual(try SafeTensors.read(contentsOf: dir + "/out.safetensors"), expected)

    // Parameters from a file give the same outputs, on two threads too.
    (status, stderr) = try dinoRun(
      ["exec"] + base + [
        "-o", dir + "/out2.safetensors", "--threads", "2",
        "--params", dir + "/params.safetensors",
      ])
    XCTAssertEqual(status, 0, stderr)
    let again = try SafeTensors.read(contentsOf: dir + "/out2.safetensors")
    for (name, tensor) in expected.tensors {
      assertClose(
        again.tensors[name]!.floats, tensor.floats.map(Double.init), atol: 1e-5, rtol: 1e-4, name)
    }

    // Refusals: one line, status 1.
    try assertFails(
      ["exec", dir + "/nope.bin", "--program", "forward", "-o", dir + "/o"], "cannot open")
    XCTAssertTrue(
      FileManager.default.createFile(
        atPath: dir + "/junk.bin", contents: Data("not a plan at all".utf8)))
    try assertFails(
      ["exec", dir + "/junk.bin", "--program", "forward", "-o", dir + "/o"], "not a plan")
    try assertFails(
      ["exec"] + base.dropLast(2) + ["-o", dir + "/o"],
      "@forward needs inputs 'x': pass --inputs FILE")
    try assertFails(
      ["exec", dir + "/plan.bin", "--program", "train", "-o", dir + "/o"],
      "no program @train (the plan has @forward)")
    try SafeTensors(tensors: ["y": x]).write(to: dir + "/wrong.safetensors")
    try assertFails(
      [
        "exec", dir + "/plan.bin", "--program", "forward", "--inputs", dir + "/wrong.safetensors",
        "-o", dir + "/o",
      ],
      "has no tensor 'x' (input of @forward, f32[3,7,12])")
    var partial = try SafeTensors.read(contentsOf: dir + "/params.safetensors")
    partial.tensors["student.fc2.bias"] = nil
    try partial.write(to: dir + "/partial.safetensors")
    try assertFails(
      ["exec"] + base + ["-o", dir + "/o", "--params", dir + "/partial.safetensors"],
      "partial.safetensors has no tensor 'student.fc2.bias'")
    try assertFails(
      ["exec"] + base + ["-o", dir + "/missing-folder/o.safetensors"],
      "cannot create a temporary file")
    XCTAssertFalse(FileManager.default.fileExists(atPath: dir + "/o"))
  }
}
