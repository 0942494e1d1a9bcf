import Foundation

/// Where the DinoDSL library a model.swift links against lives: `libDinoDSL.so`, the Swift
/// modules (`DinoDSL`, and `DinoOps` which it imports) and the C module map of `CDinoOps`.
///
/// Found like SwiftPM finds PackageDescription, in this order: `$DINOC_DSL_LIBS` (only that,
/// when set); `<dinoc dir>/../lib/dino` (an installation); `<dinoc dir>` with its `Modules/`
/// folder and `CDinoOps.build/` (a SwiftPM build folder, where `swift build` leaves dinoc).
struct DSLLibrary {
  /// The folder holding `libDinoDSL.so`.
  var libraryDirectory: String
  /// The folder holding `DinoDSL.swiftmodule`.
  var moduleDirectory: String
  /// Module maps of the C modules the Swift modules import.
  var moduleMaps: [String]

  /// The library file.
  var libraryPath: String { "\(libraryDirectory)/libDinoDSL.so" }

  /// The swiftc flags that make `import DinoDSL` compile and link, and run without
  /// `LD_LIBRARY_PATH`.
  var swiftcFlags: [String] {
    ["-I", moduleDirectory] + moduleMaps.flatMap { ["-Xcc", "-fmodule-map-file=\($0)"] }
      + ["-L", libraryDirectory, "-lDinoDSL", "-Xlinker", "-rpath", "-Xlinker", libraryDirectory]
  }

  /// The files whose contents decide what a compiled model does (for the cache key).
  var files: [String] {
    [libraryPath] + ["DinoDSL", "DinoOps"].map { "\(moduleDirectory)/\($0).swiftmodule" }
      + moduleMaps
  }

  /// Finds the library.
  /// - Parameters:
  ///   - environment: the process environment (`DINOC_DSL_LIBS`).
  ///   - executableDirectory: the folder of the running dinoc.
  /// - Throws: `DinocError` listing the folders searched.
  static func locate(environment: [String: String], executableDirectory: String) throws(DinocError)
    -> DSLLibrary
  {
    if let custom = environment["DINOC_DSL_LIBS"], !custom.isEmpty {
      guard let library = DSLLibrary(directory: custom) else {
        throw DinocError(
          "DINOC_DSL_LIBS=\(custom) does not hold libDinoDSL.so and DinoDSL.swiftmodule")
      }
      return library
    }
    let candidates = [
      URL(fileURLWithPath: "\(executableDirectory)/../lib/dino").standardized.path,
      executableDirectory,
    ]
    for directory in candidates {
      if let library = DSLLibrary(directory: directory) { return library }
    }
    throw DinocError(
      "cannot find the DinoDSL library (libDinoDSL.so and DinoDSL.swiftmodule)",
      notes: [
        "looked in \(candidates.joined(separator: " and "))",
        "build it with 'swift build --product DinoDSL', or set DINOC_DSL_LIBS to its folder",
      ])
  }

  /// The library in `directory` (modules in it or in its `Modules/`), or `nil`.
  init?(directory: String) {
    let fm = FileManager.default
    guard fm.fileExists(atPath: "\(directory)/libDinoDSL.so") else { return nil }
    guard
      let modules = [directory, "\(directory)/Modules"].first(where: {
        fm.fileExists(atPath: "\($0)/DinoDSL.swiftmodule")
      })
    else { return nil }
    libraryDirectory = directory
    moduleDirectory = modules
    moduleMaps = [
      "\(directory)/CDinoOps.build/module.modulemap", "\(directory)/CDinoOps/module.modulemap",
    ]
    .filter { fm.fileExists(atPath: $0) }
  }
}
