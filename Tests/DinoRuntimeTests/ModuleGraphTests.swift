import Foundation
import XCTest

/// The executor stays an executor: DinoRuntime's sources import no data pipeline and no job
/// module (a build alone would not notice, SwiftPM shares one module folder).
final class ModuleGraphTests: XCTestCase {
  /// The modules DinoRuntime may import: its declared dependencies and system modules.
  static let allowedImports: Set<String> = [
    "CDinoKernels", "CDinoOps", "DinoIR", "DinoOps", "DinoPlan", "Dispatch", "Foundation",
    "Glibc", "Darwin",
  ]

  /// The package root, three folders above this file.
  static var packageRoot: String {
    URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().path
  }

  /// The module names a Swift source imports (`import X`, `@testable import X`, indented
  /// `#if` imports included).
  static func imports(of source: String) -> [String] {
    source.split(separator: "\n").compactMap { line in
      let words = line.split(separator: " ")
      guard let at = words.firstIndex(of: "import"), at + 1 < words.count else { return nil }
      let before = words[..<at]
      guard before.allSatisfy({ $0.hasPrefix("@") }) else { return nil }
      return String(words[at + 1])
    }
  }

  func testImportsAreRecognised() {
    let source = "import A\n@testable import B\n#if canImport(C)\n  import C\n#endif\n// import D"
    XCTAssertEqual(Self.imports(of: source), ["A", "B", "C"])
  }

  func testExecutorImportsNeitherDataNorTraining() throws {
    let folder = Self.packageRoot + "/Sources/DinoRuntime"
    let files = try FileManager.default.contentsOfDirectory(atPath: folder)
      .filter { $0.hasSuffix(".swift") }
    XCTAssertGreaterThan(files.count, 5)
    for file in files {
      let source = try String(contentsOfFile: folder + "/" + file, encoding: .utf8)
      for module in Self.imports(of: source) {
        XCTAssertTrue(
          Self.allowedImports.contains(module), "Sources/DinoRuntime/\(file) imports \(module)")
      }
    }
  }

  func testManifestGivesTheExecutorNoDataDependency() throws {
    let manifest = try String(contentsOfFile: Self.packageRoot + "/Package.swift", encoding: .utf8)
    let target = try XCTUnwrap(manifest.range(of: "name: \"DinoRuntime\""))
    let rest = manifest[target.upperBound...]
    let end = rest.range(of: ".target(")?.lowerBound ?? rest.endIndex
    let declaration = rest[..<end]
    XCTAssertTrue(declaration.contains("dependencies:"), String(declaration))
    XCTAssertFalse(declaration.contains("\"DinoData\""), String(declaration))
    XCTAssertFalse(declaration.contains("\"DinoTraining\""), String(declaration))
  }
}
