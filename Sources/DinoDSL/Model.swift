import DinoOps

/// The model a model.swift file describes: its persistent parameters (registered layers),
/// its programs, hyper-parameters and metadata.
///
/// ```swift
/// Model("mlp") { model in
///   let net = model.register(MLP(32, 64, 32), as: "student")
///   model.hyper["batch"] = 8
///   model.program("forward") {
///     let x = Input("x", [8, 32])
///     Output("y", net(x))
///   }
/// }
/// ```
/// The graph is complete when the closure returns; it is written to dinoc's channel when
/// the process exits, so model.swift's own `print`s go to stdout and never into the graph.
public final class Model {
  /// The model's name, recorded as metadata `model`.
  public let name: String
  /// Numeric hyper-parameters carried to the runtime (`batch`, `lr`, `epochs`, …).
  public var hyper: [String: Double] = [:]
  /// Free-form metadata carried into the plan.
  public var metadata: [String: String] = [:]
  /// The programs recorded so far.
  var programs: [ProgramRecorder] = []

  /// Describes a model: `body` registers layers and records programs.
  /// - Parameters:
  ///   - name: the model's name.
  ///   - body: receives the model under construction.
  @discardableResult
  public init(
    _ name: String, file: String = #filePath, line: UInt = #line, column: UInt = #column,
    _ body: (Model) -> Void
  ) {
    self.name = name
    let loc = session.userLoc(file, line, column)
    if let earlier = session.modelLoc {
      session.error(
        "model.swift may describe one Model only", at: loc, notes: ["first Model at \(earlier)"])
      return
    }
    session.modelLoc = loc
    body(self)
    session.checkCopies()
    if programs.isEmpty && session.errors.isEmpty {
      session.error(
        "Model '\(name)' has no programs: nothing to compile; add model.program(\"forward\") "
          + "{ … } or DINO(…).emit(into: model)", at: loc)
    }
    var metadata = self.metadata
    metadata["model"] = name
    metadata["dsl_version"] = "1"
    for option in session.options { metadata["option.\(option.name)"] = option.value }
    session.module = Wire.Module(
      programs: programs.map(\.wire), hyper: hyper, metadata: metadata)
  }

  /// Records the program `name`: the operations `body` performs on tensors become its nodes.
  ///
  /// Programs share parameters: a layer used in two programs reads the same buffers.
  /// - Parameters:
  ///   - name: `forward`, `train_step`, `ema`, `features`, `attention`, …
  ///   - body: creates inputs with `Input`, computes, and names results with `Output`.
  public func program(
    _ name: String, file: String = #filePath, line: UInt = #line, column: UInt = #column,
    _ body: () -> Void
  ) {
    let loc = session.userLoc(file, line, column)
    if let current = session.program {
      session.error("program @\(name) is nested inside program @\(current.name)", at: loc)
      return
    }
    if let earlier = programs.first(where: { $0.name == name }) {
      session.error(
        "program @\(name) is declared twice", at: loc, notes: ["first declared at \(earlier.loc)"])
      return
    }
    let recorder = ProgramRecorder(id: session.nextProgramID, name: name, loc: loc)
    session.nextProgramID += 1
    let outerScopes = session.scopes
    session.program = recorder
    session.scopes = []
    body()
    session.program = nil
    session.scopes = outerScopes
    programs.append(recorder)
  }

  /// Names `module`'s parameters `<name>.<property path>` and returns it.
  ///
  /// Child names come from stored-property labels (arrays by index), so a parameter reads
  /// like a PyTorch state-dict key: `student.blocks.3.mlp.fc1.weight`.
  /// - Parameters:
  ///   - module: the root layer.
  ///   - name: the region and first path component (`student`, `teacher`).
  ///   - trainable: overrides every parameter's trainability when given.
  ///   - source: when given, every parameter is initialised as a copy of the parameter at the
  ///     same path under `source` (`teacher` from `student`: `copy(student.…)`).
  /// - Returns: `module`.
  @discardableResult
  public func register<M: Module>(
    _ module: M, as name: String, trainable: Bool? = nil, copying source: String? = nil,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> M {
    let loc = session.userLoc(file, line, column)
    guard checkRegistration(name, at: loc) else { return module }
    if let path = session.layerPaths[ObjectIdentifier(module)] {
      session.error(
        "this \(type(of: module)) is already registered as '\(path)'; create a separate instance for '\(name)'",
        at: loc)
      return module
    }
    session.roots.append(module)
    var naming = Naming(root: name, trainable: trainable, source: source)
    naming.visit(module, path: name)
    return module
  }

  /// Names a standalone parameter (for example `center`) and returns it.
  /// - Parameters:
  ///   - parameter: the parameter.
  ///   - name: its full buffer name.
  /// - Returns: `parameter`.
  @discardableResult
  public func register(
    _ parameter: Parameter, as name: String,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Parameter {
    let loc = session.userLoc(file, line, column)
    guard checkRegistration(name, at: loc) else { return parameter }
    if let earlier = parameter.name {
      session.error("this parameter is already registered as '\(earlier)'", at: loc)
      return parameter
    }
    session.roots.append(parameter)
    session.name(parameter, name)
    return parameter
  }

  private var registeredNames: [String: SourceLoc] = [:]

  private func checkRegistration(_ name: String, at loc: SourceLoc) -> Bool {
    if name.isEmpty || name.hasPrefix(".") || name.hasSuffix(".") {
      session.error("'\(name)' is not a valid parameter path", at: loc)
      return false
    }
    if let earlier = registeredNames[name] {
      session.error(
        "'\(name)' is registered twice", at: loc, notes: ["first registered at \(earlier)"])
      return false
    }
    registeredNames[name] = loc
    return true
  }
}

/// Declares an input of the program being recorded; the runtime feeds it.
///
/// - Parameters:
///   - name: the input's name (`x`, `crop0`, `lr`, `seed`).
///   - shape: its static shape (`[]` for a scalar).
///   - dtype: `.f32` (default) or `.i32` (seeds).
/// - Returns: the input tensor.
public func Input(
  _ name: String, _ shape: [Int], dtype: DType = .f32,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) -> Tensor {
  let loc = session.userLoc(file, line, column)
  if shape.contains(where: { $0 < 1 }) {
    session.error("input '\(name)': shape \(shapeText(shape)) has a dimension below 1", at: loc)
    return session.invalid(shape.map { max($0, 1) }, at: loc)
  }
  if let program = session.program,
    let earlier = program.nodes.first(where: { $0.op == "input" && $0.attrs.string("name") == name }
    )
  {
    session.error(
      "input '\(name)' is declared twice in @\(program.name)", at: loc,
      notes: ["first declared at \(earlier.loc)"])
    return session.invalid(shape, at: loc)
  }
  let type = TensorType(dtype, shape)
  return session.record(
    .input, [], ["name": .string(name)], declared: type, at: loc, fallback: type)
}

/// Names `value` as a result of the program being recorded.
/// - Parameters:
///   - name: the result's name (`y`, `loss`).
///   - value: the tensor.
public func Output(
  _ name: String, _ value: Tensor,
  file: String = #filePath, line: UInt = #line, column: UInt = #column
) {
  let loc = session.userLoc(file, line, column)
  guard let program = session.program else {
    session.error("Output(\"\(name)\") used outside a program", at: loc)
    return
  }
  if program.outputs.contains(where: { $0.name == name }) {
    session.error("output '\(name)' is declared twice in @\(program.name)", at: loc)
    return
  }
  guard value.isValid else { return }
  if value.program != program.id {
    session.error(
      "output '\(name)' was recorded in another program, not in @\(program.name)", at: loc)
    return
  }
  program.outputs.append(Wire.Output(name: name, value: value.index))
}
