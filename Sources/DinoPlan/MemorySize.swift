/// Sizes as a person writes them on a command line (`dinoc compile --memory-limit`).
public enum MemorySize {
  /// The multipliers of the unit letters: binary, so `1K` is 1024 bytes and `1.5G` is
  /// 1.5 × 2³⁰ bytes.
  static let units: [Character: Double] = [
    "K": 1024, "M": 1024 * 1024, "G": 1024 * 1024 * 1024, "T": 1024 * 1024 * 1024 * 1024,
  ]

  /// The bytes `text` names: a bare number of bytes (`786432000`), or a positive decimal
  /// number followed by K, M, G or T, optionally followed by `iB` or `B`
  /// (`700M`, `1.5G`, `800MiB`, `2GB`; letters in either case). All units are binary.
  /// - Parameter text: the size.
  /// - Returns: the size in bytes, rounded down.
  /// - Throws: `MemorySize.Malformed`, whose message says what is accepted.
  public static func parse(_ text: String) throws(Malformed) -> Int {
    let trimmed = text.trimmingSpaces()
    let number = trimmed.prefix { $0.isNumber || $0 == "." }
    var unit = trimmed.dropFirst(number.count).uppercased()
    var scale: Double = 1
    if let letter = unit.first, let multiplier = units[letter] {
      scale = multiplier
      unit.removeFirst()
      if unit == "IB" || unit == "B" { unit = "" }
    } else if unit == "B" {
      unit = ""
    }
    guard unit.isEmpty, let value = Double(number), value > 0, value.isFinite,
      number.filter({ $0 == "." }).count <= 1
    else { throw Malformed(text: text) }
    let bytes = value * scale
    guard bytes >= 1, bytes < 0x1p62 else { throw Malformed(text: text) }
    return Int(bytes)
  }

  /// A size that `parse` does not read.
  public struct Malformed: Error, Equatable, CustomStringConvertible {
    /// What was given.
    public var text: String
    /// `'7O0M' is not a size: give bytes or a number with K, M, G or T (binary, an
    /// optional iB/B), e.g. 700M, 1.5G, 800MiB`.
    public var description: String {
      "'\(text)' is not a size: give bytes or a positive number with K, M, G or T "
        + "(binary units, optionally followed by iB or B), e.g. 700M, 1.5G, 800MiB"
    }
  }
}

extension String {
  /// The string without leading and trailing spaces.
  fileprivate func trimmingSpaces() -> String {
    String(drop { $0 == " " }.reversed().drop { $0 == " " }.reversed())
  }
}
