import DinoOps

/// How a parameter's buffer is filled before training: the `init` spec string of its
/// `parameter` node (`zeros`, `trunc_normal(0.02,-2,2)`, `copy(student.head.weight)`).
public struct Initializer: Sendable, Hashable, CustomStringConvertible {
  /// The spec string.
  public let spec: String

  /// Creates an initializer from a spec string as the runtime reads it.
  public init(spec: String) { self.spec = spec }

  /// All zeros.
  public static let zeros = Initializer(spec: "zeros")
  /// All ones.
  public static let ones = Initializer(spec: "ones")
  /// Every element `value`.
  public static func constant(_ value: Double) -> Initializer {
    Initializer(spec: "const(\(number(value)))")
  }
  /// Normal with mean 0 and standard deviation `std`.
  public static func normal(std: Double) -> Initializer {
    Initializer(spec: "normal(\(number(std)))")
  }
  /// Normal with mean 0 and standard deviation `std`, redrawn outside `[a, b]` (absolute bounds,
  /// as `torch.nn.init.trunc_normal_`).
  public static func truncNormal(std: Double, a: Double = -2, b: Double = 2) -> Initializer {
    Initializer(spec: "trunc_normal(\(number(std)),\(number(a)),\(number(b)))")
  }
  /// Uniform in `[low, high)`.
  public static func uniform(_ low: Double, _ high: Double) -> Initializer {
    Initializer(spec: "uniform(\(number(low)),\(number(high)))")
  }
  /// A copy of the buffer `name` (for example a teacher initialised from its student).
  public static func copy(_ name: String) -> Initializer { Initializer(spec: "copy(\(name))") }

  /// The spec string.
  public var description: String { spec }

  /// `2` for integral values, else Swift's shortest round-trip spelling (`0.02`).
  static func number(_ value: Double) -> String {
    if value == value.rounded(), abs(value) < 1e15 { return String(Int(value)) }
    return "\(value)"
  }
}

/// A persistent, named tensor: a weight, a bias, a token, a center.
///
/// Layers create parameters in their initialisers and keep them in stored properties;
/// `Model.register(_:as:)` names them after those properties. Reading `value` inside a
/// program records (once per program) a `parameter` node for the buffer.
public final class Parameter {
  /// The parameter's shape.
  public let shape: [Int]
  /// How its buffer starts out.
  public internal(set) var initializer: Initializer
  /// Whether the optimiser updates it.
  public internal(set) var trainable: Bool
  /// The buffer name (`student.blocks.0.mlp.fc1.weight`), set by `Model.register`.
  public internal(set) var name: String?
  /// Where model.swift created it.
  let loc: SourceLoc

  /// Creates an (unnamed) parameter.
  /// - Parameters:
  ///   - shape: its static shape.
  ///   - initializer: how its buffer starts out.
  ///   - trainable: whether the optimiser updates it.
  public init(
    _ shape: [Int], init initializer: Initializer = .zeros, trainable: Bool = true,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    self.shape = shape
    self.initializer = initializer
    self.trainable = trainable
    self.loc = session.userLoc(file, line, column)
  }

  /// The parameter as a tensor of the program being recorded.
  ///
  /// This is a property, so it cannot capture its caller's location: problems (a parameter
  /// whose layer was never registered) are reported where the parameter was created.
  public var value: Tensor {
    let type = TensorType(.f32, shape)
    guard let program = session.program else {
      session.error("parameter used outside a program", at: loc)
      return session.invalid(shape, at: loc)
    }
    if let tensor = program.parameterNodes[ObjectIdentifier(self)] { return tensor }
    guard let name else {
      session.error(
        "a parameter created here is used in @\(program.name) but has no name; register its layer (or it) with model.register(_:as:)",
        at: loc)
      let tensor = session.invalid(shape, at: loc)
      program.parameterNodes[ObjectIdentifier(self)] = tensor
      return tensor
    }
    // The node's scope is the owning layer's path, whatever layer is running.
    let saved = session.scopes
    let owner = name.split(separator: ".").dropLast().joined(separator: ".")
    session.scopes = [Scope(path: owner, typeName: "Parameter", loc: loc)]
    let tensor = session.record(
      .parameter, [],
      [
        "name": .string(name), "init": .string(initializer.spec),
        "trainable": .int(trainable ? 1 : 0),
      ],
      declared: type, at: loc, fallback: type)
    session.scopes = saved
    program.parameterNodes[ObjectIdentifier(self)] = tensor
    return tensor
  }
}
