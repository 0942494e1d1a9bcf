import DinoOps
import Foundation

/// Everything the DSL records while model.swift runs: the command line, the declared
/// options, the model under construction, the program being recorded, the layer scope
/// stack and the diagnostics. The payload is written once, when the process exits.
final class Session {
  /// `-fileno N` and `-D key=value` from the command line dinoc ran the model with.
  let arguments: ModelArguments
  /// Options in declaration order.
  var options: [DeclaredOption] = []
  /// Errors found so far, in the order they were found (duplicates dropped).
  var errors: [Wire.Diagnostic] = []
  /// The payload built by `Model { }`, once it has finished.
  var module: Wire.Module?
  /// Where the `Model { }` was written, once one has started.
  var modelLoc: SourceLoc?
  /// The program being recorded, if any.
  var program: ProgramRecorder?
  /// The layers whose `callAsFunction` is running, outermost first.
  var scopes: [Scope] = []
  /// The path of each registered layer, by object identity.
  var layerPaths: [ObjectIdentifier: String] = [:]
  /// Registered roots, retained so that object identities stay unique.
  var roots: [AnyObject] = []
  /// The id the next program recorder gets.
  var nextProgramID = 0
  /// Named parameters, by buffer name.
  var parameters: [String: Parameter] = [:]
  /// The first model.swift file a DSL call came from.
  var userFile: String?

  init() {
    arguments = ModelArguments(CommandLine.arguments.dropFirst())
    for problem in arguments.problems {
      errors.append(Wire.Diagnostic(message: problem, loc: .unknown))
    }
    atexit { session.finish() }
  }

  /// Records an error at `loc`, with a note naming the innermost layer scope.
  func error(_ message: String, at loc: SourceLoc, notes: [String] = []) {
    var notes = notes
    if let note = scopeNote(for: loc) { notes.append(note) }
    if loc.inferred {
      notes.append(
        "operators cannot capture their own line; this is where their most recent operand was made")
    }
    let diagnostic = Wire.Diagnostic(message: message, loc: loc, notes: notes)
    guard !errors.contains(diagnostic) else { return }
    errors.append(diagnostic)
    // If model.swift later traps (say, indexing the fallback shape of an invalid tensor),
    // the exit handler never runs: keep an errors-only payload in the channel meanwhile.
    if let fd = arguments.fileno {
      replaceChannel(with: Wire.Module(programs: [], errors: errors), fd: fd, closing: false)
    }
  }

  /// Gives `parameter` the buffer name `name`, unless another parameter has it.
  func name(_ parameter: Parameter, _ name: String) {
    if let other = parameters[name] {
      error(
        "two parameters are named '\(name)'", at: parameter.loc,
        notes: ["the other was created at \(other.loc)"])
      return
    }
    parameter.name = name
    parameters[name] = parameter
  }

  /// Checks that every `copy(<name>)` initializer names a parameter of the same shape.
  func checkCopies() {
    for (name, parameter) in parameters.sorted(by: { $0.key < $1.key }) {
      let spec = parameter.initializer.spec
      guard spec.hasPrefix("copy("), spec.hasSuffix(")") else { continue }
      let source = String(spec.dropFirst(5).dropLast())
      guard let original = parameters[source] else {
        error(
          "'\(name)' is initialised as a copy of '\(source)', which is not a registered parameter",
          at: parameter.loc)
        continue
      }
      if original.shape != parameter.shape {
        error(
          "'\(name)' \(shapeText(parameter.shape)) is initialised as a copy of '\(source)' \(shapeText(original.shape))",
          at: parameter.loc)
      }
    }
  }

  /// Names the innermost layer scope; when that layer's call is the error's own location
  /// (an operation inside a DinoDSL layer), also the enclosing layer and where it was called:
  /// `in scope student.fc (Linear), inside student (Net, called at model.swift:18:11)`.
  func scopeNote(for loc: SourceLoc) -> String? {
    guard let inner = scopes.last else { return nil }
    if inner.loc != loc { return "in \(inner.name) (\(inner.typeName), called at \(inner.loc))" }
    guard let outer = scopes.dropLast().last(where: { $0.loc != loc }) else {
      return "in \(inner.name) (\(inner.typeName))"
    }
    return
      "in \(inner.name) (\(inner.typeName)), inside \(outer.name.dropFirst(6)) (\(outer.typeName), called at \(outer.loc))"
  }

  /// Writes the payload: to the `-fileno` descriptor, or to stdout when run by hand.
  func finish() {
    var payload = module ?? Wire.Module(programs: [])
    if module == nil && errors.isEmpty {
      errors.append(
        Wire.Diagnostic(
          message:
            "\(userFile ?? "model.swift") defined no model; wrap its programs in Model(\"name\") { model in … }",
          loc: .unknown))
    }
    let declared = Set(options.map(\.name))
    for (key, value) in arguments.overrides where !declared.contains(key) {
      let names = options.map(\.name).sorted()
      let list =
        names.isEmpty
        ? "it declares no options" : "declared options: \(names.joined(separator: ", "))"
      errors.append(
        Wire.Diagnostic(message: "unknown option -D \(key)=\(value) (\(list))", loc: .unknown))
    }
    payload.errors = errors
    if let fd = arguments.fileno {
      replaceChannel(with: payload, fd: fd, closing: true)
    } else {
      FileHandle.standardOutput.write(encode(payload) + Data("\n".utf8))
    }
  }

  /// Replaces the channel's contents with `payload` (rewinding when the descriptor is a file).
  private func replaceChannel(with payload: Wire.Module, fd: Int32, closing: Bool) {
    let data = encode(payload)
    if lseek(fd, 0, SEEK_SET) == 0 {
      _ = ftruncate(fd, 0)
    } else if !closing {
      return  // A pipe cannot be rewound: only the final payload goes to it.
    }
    writeAll(data, to: fd)
    if closing { close(fd) }
  }

  private func encode(_ payload: Wire.Module) -> Data {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    encoder.nonConformingFloatEncodingStrategy = .convertToString(
      positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    do {
      return try encoder.encode(payload)
    } catch {
      FileHandle.standardError.write(Data("DinoDSL: cannot encode the graph: \(error)\n".utf8))
      _exit(70)
    }
  }

  private func writeAll(_ data: Data, to fd: Int32) {
    data.withUnsafeBytes { raw in
      var offset = 0
      while offset < raw.count {
        let n = write(fd, raw.baseAddress! + offset, raw.count - offset)
        if n < 0 && errno == EINTR { continue }
        if n <= 0 {
          FileHandle.standardError.write(Data("DinoDSL: cannot write the graph to fd \(fd)\n".utf8))
          return
        }
        offset += n
      }
    }
  }
}

/// The one recording session of this process.
///
/// model.swift is top-level code that runs on one thread, and every DSL call records into
/// this session from that thread; nothing in the DSL starts threads. `nonisolated(unsafe)`
/// states exactly that: the DSL is not safe to call from several threads at once.
nonisolated(unsafe) let session = Session()

/// One layer whose `callAsFunction` is running.
struct Scope {
  /// The layer's parameter path (`student.blocks.3`), empty when it was never registered.
  var path: String
  /// The layer's type name.
  var typeName: String
  /// Where model.swift called it.
  var loc: SourceLoc

  /// `scope student.blocks.3`, or `scope <unregistered>`.
  var name: String { "scope \(path.isEmpty ? "<unregistered>" : path)" }
}

/// The directory of DinoDSL's own sources: calls made from these files are attributed to
/// the innermost layer call in model.swift.
let dslSourceDirectory: String = {
  let file = #filePath
  guard let slash = file.lastIndex(of: "/") else { return file }
  return String(file[...slash])
}()

extension Session {
  /// The model.swift location of a call: the call itself when it is in user code, else
  /// (a call inside a DinoDSL layer) the innermost layer call from user code.
  func userLoc(_ file: String, _ line: UInt, _ column: UInt) -> SourceLoc {
    if file.hasPrefix(dslSourceDirectory) {
      if let scope = scopes.last { return scope.loc }
    } else if userFile == nil {
      userFile = file
    }
    return SourceLoc(file: file, line: Int(line), column: Int(column))
  }
}
