/// How a persistent buffer starts: the `init` attribute of a `parameter` node.
public enum InitSpec: Hashable, Sendable {
  /// `zeros`.
  case zeros
  /// `ones`.
  case ones
  /// `const(v)`: every element `v`.
  case constant(Double)
  /// `normal(std)`: N(0, std²).
  case normal(std: Double)
  /// `trunc_normal(std,a,b)`: N(0, std²) restricted to the absolute bounds [a, b].
  case truncNormal(std: Double, a: Double, b: Double)
  /// `uniform(lo,hi)`.
  case uniform(lo: Double, hi: Double)
  /// `copy(name)`: the initial value of another buffer of the same type.
  case copy(String)

  /// Parses an init spec; `nil` when `text` is none of the forms above or its numbers are
  /// out of range (negative std, empty interval).
  /// - Parameter text: the spec, e.g. `trunc_normal(0.02,-2,2)`.
  public init?(parsing text: String) {
    switch text {
    case "zeros":
      self = .zeros
      return
    case "ones":
      self = .ones
      return
    default: break
    }
    guard let open = text.firstIndex(of: "("), text.last == ")" else { return nil }
    let head = text[..<open]
    let body = String(text[text.index(after: open)..<text.index(before: text.endIndex)])
    if head == "copy" {
      guard !body.isEmpty else { return nil }
      self = .copy(body)
      return
    }
    var args: [Double] = []
    for part in body.split(separator: ",", omittingEmptySubsequences: false) {
      guard let value = Double(part.filter { $0 != " " }), value.isFinite else { return nil }
      args.append(value)
    }
    switch (head, args.count) {
    case ("const", 1): self = .constant(args[0])
    case ("normal", 1) where args[0] >= 0: self = .normal(std: args[0])
    case ("trunc_normal", 3) where args[0] >= 0 && args[1] < args[2]:
      self = .truncNormal(std: args[0], a: args[1], b: args[2])
    case ("uniform", 2) where args[0] <= args[1]: self = .uniform(lo: args[0], hi: args[1])
    default: return nil
    }
  }
}
