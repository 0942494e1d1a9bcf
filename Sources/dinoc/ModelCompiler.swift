import DinoFileGuard
import DinoIR
import Foundation

/// Turns a model.swift into a verified `Graph`, the way SwiftPM evaluates `Package.swift`:
/// check the `// dino-dsl-version: 1` line, compile the file with swiftc against the DinoDSL
/// library (cached by content), run it with a descriptor for its graph, decode and verify.
///
/// The model is ordinary Swift code running with the user's rights; there is no sandbox
/// (SwiftPM has none on Linux either). Its own output goes to the terminal unchanged.
struct ModelCompiler {
  /// The DSL version this dinoc compiles.
  static let dslVersion = 1

  /// The model.swift path, passed to swiftc exactly as given (so `#filePath` and every
  /// diagnostic show it as the user typed it).
  var sourcePath: String
  /// `key=value` overrides for the model's `Option`s.
  var defines: [String] = []
  /// Whether to reuse and store compiled models in the cache.
  var useCache = true
  /// Seconds the model may run before it is killed.
  var timeout: Double = 120
  /// The environment (`DINOC_DSL_LIBS`, `DINOC_SWIFTC`, `XDG_CACHE_HOME`, `HOME`, `PATH`).
  var environment = ProcessInfo.processInfo.environment

  /// Compiles, runs and decodes the model.
  /// - Returns: the verified graph at stage `captured`.
  /// - Throws: `DinocError` with the lines to print (swiftc's own diagnostics have already
  ///   been printed by swiftc).
  func compile() throws(DinocError) -> Graph {
    let source = try readSource()
    try checkVersionLine(source)
    let library = try DSLLibrary.locate(
      environment: environment, executableDirectory: Self.executableDirectory)
    let swiftc = try findSwiftc()
    let scratch = FileManager.default.temporaryDirectory
      .appendingPathComponent("dinoc-\(getpid())-\(UUID().uuidString)").path
    do {
      try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
    } catch {
      throw DinocError(
        "cannot create a temporary folder at \(scratch): \(error.localizedDescription)")
    }
    defer { try? FileManager.default.removeItem(atPath: scratch) }
    let executable = try buildExecutable(
      source: source, library: library, swiftc: swiftc, scratch: scratch)
    let wire = try runModel(executable, scratch: scratch)
    if !wire.errors.isEmpty {
      throw DinocError(
        lines: wire.errors.flatMap { diagnostic in
          CompileError(diagnostic.message, at: diagnostic.loc, notes: diagnostic.notes).description
            .split(separator: "\n").map(String.init)
        })
    }
    do {
      return try Graph(wire: wire)
    } catch {
      throw DinocError(lines: error.description.split(separator: "\n").map(String.init))
    }
  }

  // MARK: The source file

  private func readSource() throws(DinocError) -> Data {
    var info = stat()
    guard stat(sourcePath, &info) == 0 else {
      throw DinocError(
        errno == ENOENT
          ? "no such file: \(sourcePath)" : "cannot read \(sourcePath): \(Self.errnoText())")
    }
    if info.st_mode & S_IFMT == S_IFDIR {
      throw DinocError("\(sourcePath) is a folder, not a model.swift file")
    }
    if info.st_mode & S_IFMT != S_IFREG {  // a FIFO would block, a device never end
      throw DinocError(
        "\(sourcePath) is a \(FileKindName.of(mode: info.st_mode)), not a model.swift file")
    }
    let fd = open(sourcePath, O_RDONLY | O_CLOEXEC)
    guard fd >= 0 else { throw DinocError("cannot read \(sourcePath): \(Self.errnoText())") }
    return FileHandle(fileDescriptor: fd, closeOnDealloc: true).readDataToEndOfFile()
  }

  /// Accepts `// dino-dsl-version: 1` (spaces optional) as the first line.
  private func checkVersionLine(_ source: Data) throws(DinocError) {
    let firstLine = String(decoding: source.prefix { $0 != UInt8(ascii: "\n") }, as: UTF8.self)
    let expected = "// dino-dsl-version: \(Self.dslVersion)"
    let text = firstLine.trimmingCharacters(in: .whitespacesAndNewlines)
    guard text.hasPrefix("//") else {
      throw versionError("the first line must be '\(expected)'")
    }
    let comment = text.dropFirst(2).trimmingCharacters(in: .whitespaces)
    guard comment.hasPrefix("dino-dsl-version:") else {
      throw versionError("the first line must be '\(expected)'")
    }
    let value = comment.dropFirst("dino-dsl-version:".count).trimmingCharacters(in: .whitespaces)
    guard let version = Int(value) else {
      throw versionError("'\(value)' is not a dino-dsl-version number")
    }
    if version != Self.dslVersion {
      throw versionError(
        "dino-dsl-version \(version) is not supported; this dinoc reads version \(Self.dslVersion)")
    }
  }

  /// `model.swift:1:1: error: message`.
  private func versionError(_ message: String) -> DinocError {
    DinocError(lines: ["\(sourcePath):1:1: error: \(message)"])
  }

  // MARK: Building the model executable

  private func findSwiftc() throws(DinocError) -> String {
    if let custom = environment["DINOC_SWIFTC"], !custom.isEmpty {
      guard access(custom, X_OK) == 0 else {
        throw DinocError("DINOC_SWIFTC=\(custom) is not an executable")
      }
      return custom
    }
    guard let found = Subprocess.find("swiftc") else {
      throw DinocError(
        "cannot find swiftc on PATH", notes: ["set DINOC_SWIFTC to the compiler's path"])
    }
    return found
  }

  /// The compiled model: from the cache, or built by swiftc (and stored in the cache).
  private func buildExecutable(source: Data, library: DSLLibrary, swiftc: String, scratch: String)
    throws(DinocError) -> String
  {
    let flags = ["-module-name", "Model", "-swift-version", "6"] + library.swiftcFlags
    let cache = useCache ? cacheDirectory() : nil
    var key = SHA256()
    key.update("dinoc \(dinocVersion)\0dsl \(Self.dslVersion)\0path \(sourcePath)\0")
    key.update(
      "swiftc \(swiftc) \(Self.fileStamp(swiftc))\0flags \(flags.joined(separator: " "))\0")
    // The library files are identified by size, modification time and inode rather than by
    // their bytes: hashing a debug libDinoDSL.so costs ~0.4 s per run in a debug dinoc, and
    // any rebuild or reinstall changes the stamp.
    for file in library.files { key.update("file \(file) \(Self.fileStamp(file))\0") }
    key.update(source)
    let digest = key.finalize()
    if let cache {
      let cached = "\(cache)/\(digest)/model"
      if access(cached, X_OK) == 0 { return cached }
    }
    let buildDirectory =
      cache.map { "\($0)/tmp-\(getpid())-\(UUID().uuidString)" } ?? "\(scratch)/build"
    do {
      try FileManager.default.createDirectory(
        atPath: buildDirectory, withIntermediateDirectories: true)
    } catch {
      throw DinocError("cannot create \(buildDirectory): \(error.localizedDescription)")
    }
    let output = "\(buildDirectory)/model"
    let arguments = flags + [sourcePath, "-o", output]
    let termination = try Subprocess.run(swiftc, arguments)
    guard termination == .exited(0) else {
      if cache != nil { try? FileManager.default.removeItem(atPath: buildDirectory) }
      throw DinocError(
        "compiling \(sourcePath) failed (\(termination.description)): \(Subprocess.commandLine([swiftc] + arguments))"
      )
    }
    guard let cache else { return output }
    let final = "\(cache)/\(digest)"
    if rename(buildDirectory, final) != 0 {
      // Another dinoc stored the same model first, or the cache is read-only: use ours.
      if access("\(final)/model", X_OK) == 0 {
        try? FileManager.default.removeItem(atPath: buildDirectory)
        return "\(final)/model"
      }
      return output
    }
    return "\(final)/model"
  }

  /// `${XDG_CACHE_HOME:-~/.cache}/dinoc`, created if needed; `nil` when it cannot be.
  private func cacheDirectory() -> String? {
    let base: String
    if let xdg = environment["XDG_CACHE_HOME"], !xdg.isEmpty {
      base = xdg
    } else if let home = environment["HOME"], !home.isEmpty {
      base = "\(home)/.cache"
    } else {
      return nil
    }
    let directory = "\(base)/dinoc"
    do {
      try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    } catch {
      return nil
    }
    return directory
  }

  // MARK: Running the model

  /// Runs the model with `-fileno` on a file in `scratch` and decodes what it wrote.
  private func runModel(_ executable: String, scratch: String) throws(DinocError) -> Wire.Module {
    let payloadPath = "\(scratch)/graph.json"
    // No O_CLOEXEC: the child inherits this descriptor and writes its graph to it.
    let fd = open(payloadPath, O_RDWR | O_CREAT | O_TRUNC, 0o600)
    guard fd >= 0 else { throw DinocError("cannot create \(payloadPath): \(Self.errnoText())") }
    let arguments = ["-fileno", "\(fd)"] + defines.flatMap { ["-D", $0] }
    let termination: Termination
    do {
      termination = try Subprocess.run(executable, arguments, timeout: timeout)
      close(fd)
    } catch {
      close(fd)
      throw error
    }
    let data = FileManager.default.contents(atPath: payloadPath) ?? Data()
    var wire: Wire.Module?
    if !data.isEmpty { wire = try decode(data) }
    switch termination {
    case .exited(0):
      guard let wire else {
        throw DinocError(
          "\(sourcePath) wrote no graph",
          notes: ["does it import DinoDSL and describe a Model { }?"])
      }
      return wire
    case .timedOut:
      throw DinocError(
        "\(sourcePath) did not finish within \(Self.seconds(timeout)) s (see --timeout)")
    case .exited, .signalled:
      var lines: [String] = []
      for diagnostic in wire?.errors ?? [] {
        lines += CompileError(diagnostic.message, at: diagnostic.loc, notes: diagnostic.notes)
          .description
          .split(separator: "\n").map(String.init)
      }
      let how = termination.description
      lines.append("error: \(sourcePath) failed while building its graph (\(how))")
      throw DinocError(lines: lines)
    }
  }

  private func decode(_ data: Data) throws(DinocError) -> Wire.Module {
    struct VersionProbe: Decodable { var version: Int }
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    guard let probe = try? decoder.decode(VersionProbe.self, from: data) else {
      throw DinocError("\(sourcePath) wrote a graph that is not valid JSON")
    }
    guard probe.version == Wire.version else {
      throw DinocError(
        "\(sourcePath) wrote a graph of wire version \(probe.version); this dinoc reads version \(Wire.version)",
        notes: [
          "the DinoDSL library and dinoc come from different builds (mismatched DinoDSL library)"
        ])
    }
    do {
      return try decoder.decode(Wire.Module.self, from: data)
    } catch {
      throw DinocError("\(sourcePath) wrote a malformed graph: \(error)")
    }
  }

  // MARK: Helpers

  /// The folder of the running dinoc executable (symlinks resolved).
  static var executableDirectory: String {
    let path =
      (try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe"))
      ?? CommandLine.arguments[0]
    return URL(fileURLWithPath: path).deletingLastPathComponent().standardized.path
  }

  /// `size mtime inode` of a file, enough to notice a rebuilt library or replaced compiler.
  private static func fileStamp(_ path: String) -> String {
    var info = stat()
    guard stat(path, &info) == 0 else { return "missing" }
    return "\(info.st_size) \(info.st_mtim.tv_sec).\(info.st_mtim.tv_nsec) \(info.st_ino)"
  }

  private static func errnoText() -> String { String(cString: strerror(errno)) }

  private static func seconds(_ value: Double) -> String {
    value == value.rounded() ? String(Int(value)) : String(value)
  }
}
