import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// Helpers of the hostile-input tests: run a tool, expect one refusal line, and check that
/// nothing the command read or wrote before changed.
extension XCTestCase {
  /// The bytes of each path (nil for a missing file), to compare after a refused command.
  func snapshot(_ paths: [String]) -> [String: Data?] {
    Dictionary(uniqueKeysWithValues: paths.map { ($0, FileManager.default.contents(atPath: $0)) })
  }

  /// Runs `tool` (`dinoc` or `dino-run`) with `arguments` and asserts a refusal: exit status
  /// 1, exactly one stderr line with the tool's error prefix that contains `text`, and every
  /// path in `unchanged` as it was before (still missing if it was missing).
  /// - Returns: the error line.
  @discardableResult
  func assertRefused(
    _ tool: String, _ arguments: [String], _ text: String, unchanged: [String] = [],
    file: StaticString = #filePath, line: UInt = #line
  ) throws -> String {
    let before = snapshot(unchanged)
    let result = try DinoTool.run(tool, arguments)
    XCTAssertEqual(result.status, 1, result.stderr, file: file, line: line)
    // dinoc: `error: …`, or `model.swift:l:c: error: …` for what the model describes.
    let prefixed =
      tool == "dinoc"
      ? result.stderr.hasPrefix("error: ") || result.stderr.contains(": error: ")
      : result.stderr.hasPrefix("dino-run: error: ")
    XCTAssertTrue(prefixed, result.stderr, file: file, line: line)
    XCTAssertTrue(
      result.stderr.contains(text), "\"\(result.stderr)\" lacks \"\(text)\"", file: file,
      line: line)
    XCTAssertEqual(
      result.stderr.filter { $0 == "\n" }.count, 1, result.stderr, file: file, line: line)
    XCTAssertFalse(result.stderr.contains("Backtrace"), result.stderr, file: file, line: line)
    for (path, data) in before {
      XCTAssertEqual(
        FileManager.default.contents(atPath: path), data, "\(path) changed", file: file,
        line: line)
    }
    return result.stderr
  }

  /// The tiny DINO plan of `TrainTests`, compiled into `dir`.
  func tinyDINOPlan(in dir: String) throws -> String {
    try StepParityTests.compile(TrainTests.tiny, in: dir)
  }

  /// Random crops for the tiny DINO plan (batch 2, grey, 2 × 16 px and 2 × 8 px).
  func tinyCrops(poison: Float? = nil) -> SafeTensors {
    var file = SafeTensors()
    for (view, size) in [16, 16, 8, 8].enumerated() {
      var values = randomFloats(2 * size * size, seed: UInt64(view + 1))
      if let poison, view == 0 { values[5] = poison }
      file.tensors["crop\(view)"] = HostTensor(shape: [2, 1, size, size], floats: values)
    }
    return file
  }
}
