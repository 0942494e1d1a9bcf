import DinoIR
import Foundation
import XCTest
import _DinoTestSupport

/// Runs the built `dinoc` (CI runs `swift build` before `swift test`) and collects its output.
enum DinocRunner {
  /// What one dinoc run produced.
  struct Result {
    var status: Int32
    var stdout: String
    var stderr: String
    /// stderr split into lines.
    var errorLines: [String] {
      stderr.split(separator: "\n", omittingEmptySubsequences: true).map(String.init)
    }
  }

  /// The built dinoc is missing.
  struct Missing: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
  }

  /// The package root, from this file's path.
  static let packageRoot = URL(fileURLWithPath: #filePath)
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

  /// The build folder: the test bundle's own folder (dinoc sits beside it), else `.build/debug`.
  static let buildDirectory: URL = {
    if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
      let folder = URL(fileURLWithPath: exe).deletingLastPathComponent()
      if FileManager.default.isExecutableFile(atPath: folder.appendingPathComponent("dinoc").path) {
        return folder
      }
    }
    return packageRoot.appendingPathComponent(".build/debug")
  }()

  /// A model cache shared by the test runs, so that unchanged models compile once.
  static let cacheHome = buildDirectory.appendingPathComponent("dinoc-test-cache").path

  /// Runs `dinoc arguments…` in `directory`.
  static func run(
    _ arguments: [String], in directory: URL? = nil, environment: [String: String] = [:]
  )
    throws -> Result
  {
    let dinoc = buildDirectory.appendingPathComponent("dinoc")
    guard FileManager.default.isExecutableFile(atPath: dinoc.path) else {
      throw Missing(message: "no dinoc at \(dinoc.path): run 'swift build' before 'swift test'")
    }
    let scratch = FileManager.default.temporaryDirectory.appendingPathComponent(
      "dinoc-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: scratch) }
    let out = scratch.appendingPathComponent("stdout")
    let err = scratch.appendingPathComponent("stderr")
    _ = FileManager.default.createFile(atPath: out.path, contents: nil)
    _ = FileManager.default.createFile(atPath: err.path, contents: nil)
    let process = Process()
    process.executableURL = dinoc
    process.arguments = arguments
    process.currentDirectoryURL = directory ?? packageRoot
    var env = ProcessInfo.processInfo.environment
    env["XDG_CACHE_HOME"] = cacheHome
    env.removeValue(forKey: "DINOC_DSL_LIBS")
    for (key, value) in environment { env[key] = value }
    process.environment = env
    process.standardOutput = try FileHandle(forWritingTo: out)
    process.standardError = try FileHandle(forWritingTo: err)
    try process.run()
    process.waitUntilExit()
    return Result(
      status: process.terminationStatus,
      stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
      stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
  }

  /// Writes `source` to a fresh temporary model file, removed when `test` ends, and returns
  /// its path.
  static func writeModel(_ source: String, for test: XCTestCase) throws -> String {
    let folder = FileManager.default.temporaryDirectory.appendingPathComponent(
      "dinoc-model-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: folder) }
    let name = "model.swift"
    let path = folder.appendingPathComponent(name).path
    try source.write(toFile: path, atomically: true, encoding: .utf8)
    return path
  }

  /// Compiles `model` with `--emit-graph-json` and decodes the graph it wrote; a repeated
  /// `-D` in `extra` is merged, the last value winning (dinoc itself refuses repeats).
  static func compileToWire(
    _ model: String, _ extra: [String] = [], file: StaticString = #filePath,
    line: UInt = #line
  ) throws -> Wire.Module {
    let json = FileManager.default.temporaryDirectory.appendingPathComponent(
      "graph-\(UUID().uuidString).json")
    defer { try? FileManager.default.removeItem(at: json) }
    let result = try run(["compile", model, "--emit-graph-json", json.path] + mergedDefines(extra))
    XCTAssertEqual(result.status, 0, "dinoc failed:\n\(result.stderr)", file: file, line: line)
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try decoder.decode(Wire.Module.self, from: Data(contentsOf: json))
  }
}
