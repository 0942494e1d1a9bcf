/// An attribute value of a node.
public enum Attr: Hashable, Sendable, Codable {
  /// An integer (also booleans: 0/1).
  case int(Int)
  /// A float.
  case float(Double)
  /// A string.
  case string(String)
  /// A list of integers.
  case ints([Int])
  /// A list of floats.
  case floats([Float])

  /// The kind of this value.
  public var kind: AttrKind {
    switch self {
    case .int: .int
    case .float: .float
    case .string: .string
    case .ints: .ints
    case .floats: .floats
    }
  }
}

/// A node's attributes by name; printed sorted by name.
public typealias Attributes = [String: Attr]

extension Dictionary where Key == String, Value == Attr {
  /// The integer attribute `name`, or `fallback`.
  public func int(_ name: String, _ fallback: Int = 0) -> Int {
    if case .int(let v)? = self[name] { return v }
    return fallback
  }
  /// The float attribute `name`, or `fallback`.
  public func float(_ name: String, _ fallback: Double = 0) -> Double {
    if case .float(let v)? = self[name] { return v }
    return fallback
  }
  /// The string attribute `name`, or `fallback`.
  public func string(_ name: String, _ fallback: String = "") -> String {
    if case .string(let v)? = self[name] { return v }
    return fallback
  }
  /// The integer-list attribute `name`, or `[]`.
  public func ints(_ name: String) -> [Int] {
    if case .ints(let v)? = self[name] { return v }
    return []
  }
  /// The float-list attribute `name`, or `[]`.
  public func floats(_ name: String) -> [Float] {
    if case .floats(let v)? = self[name] { return v }
    return []
  }
}

extension OpKind {
  /// Checks that `attrs` has exactly the schema's names with the schema's kinds.
  /// - Returns: a message naming the first problem, or `nil`.
  public func attributeProblem(_ attrs: Attributes) -> String? {
    let schema = attrSchema
    for spec in schema {
      guard let value = attrs[spec.name] else { return "\(name): missing attribute '\(spec.name)'" }
      if value.kind != spec.kind {
        return "\(name): attribute '\(spec.name)' must be of kind \(spec.kind.rawValue)"
      }
    }
    for key in attrs.keys.sorted() where !schema.contains(where: { $0.name == key }) {
      return "\(name): unknown attribute '\(key)'"
    }
    return nil
  }
}
