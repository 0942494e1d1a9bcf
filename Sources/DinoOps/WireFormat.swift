/// The graph as DinoDSL emits it and dinoc reads it: versioned JSON on a dedicated file
/// descriptor (like SwiftPM's manifest payload), decoded by DinoIR into a `Graph`.
public enum Wire {
  /// The format version; dinoc refuses other versions by name.
  public static let version = 1

  /// The whole payload of one model.swift run.
  public struct Module: Codable, Sendable {
    /// `Wire.version` of the library that wrote it.
    public var version: Int
    /// The programs (`forward`, `train_step`, `ema`, `features`, …).
    public var programs: [Program]
    /// Numeric hyper-parameters (schedules, crop geometry, batch).
    public var hyper: [String: Double]
    /// Free-form metadata (model name, DSL version).
    public var metadata: [String: String]
    /// Errors found while the model ran (shape errors, bad overrides), with locations.
    public var errors: [Diagnostic]

    /// Creates a payload.
    public init(
      programs: [Program], hyper: [String: Double] = [:], metadata: [String: String] = [:],
      errors: [Diagnostic] = []
    ) {
      self.version = Wire.version
      self.programs = programs
      self.hyper = hyper
      self.metadata = metadata
      self.errors = errors
    }
  }

  /// One program: nodes in definition order; node i defines value i.
  public struct Program: Codable, Sendable {
    /// `@name` in the IR text.
    public var name: String
    /// The nodes.
    public var nodes: [Node]
    /// Named results, by value index.
    public var outputs: [Output]
    /// Creates a program.
    public init(name: String, nodes: [Node], outputs: [Output]) {
      self.name = name
      self.nodes = nodes
      self.outputs = outputs
    }
  }

  /// A named program result.
  public struct Output: Codable, Sendable, Hashable {
    /// The result's name (`loss`, `y`).
    public var name: String
    /// Index of the node that defines it.
    public var value: Int
    /// Creates an output.
    public init(name: String, value: Int) {
      self.name = name
      self.value = value
    }
  }

  /// One op application.
  public struct Node: Codable, Sendable {
    /// The op's snake_case name.
    public var op: String
    /// Indices of earlier nodes.
    public var operands: [Int]
    /// Attributes by name.
    public var attrs: Attributes
    /// The result type.
    public var type: TensorType
    /// Where model.swift created it.
    public var loc: SourceLoc
    /// The layer scope path (`student.backbone.blocks.3`), empty at top level.
    public var scope: String
    /// Creates a node.
    public init(
      op: String, operands: [Int], attrs: Attributes, type: TensorType, loc: SourceLoc,
      scope: String
    ) {
      self.op = op
      self.operands = operands
      self.attrs = attrs
      self.type = type
      self.loc = loc
      self.scope = scope
    }
  }

  /// An error with its model.swift location and optional notes.
  public struct Diagnostic: Codable, Sendable, Hashable {
    /// What went wrong.
    public var message: String
    /// Where.
    public var loc: SourceLoc
    /// Follow-up lines (`in scope student.backbone.blocks.3`).
    public var notes: [String]
    /// Creates a diagnostic.
    public init(message: String, loc: SourceLoc, notes: [String] = []) {
      self.message = message
      self.loc = loc
      self.notes = notes
    }
  }
}
