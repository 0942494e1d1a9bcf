import DinoRuntime

/// A wall-clock budget for `dino-run train --budget`: `90s`, `15m`, `1h`, `1h30m`,
/// `1h30m15s`, or plain seconds (`900`, `12.5`).
public struct TimeBudget: Sendable, Hashable, CustomStringConvertible {
  /// The budget in seconds.
  public let seconds: Double
  /// The text it was parsed from.
  public let text: String

  /// Parses `text`.
  /// - Throws: one line naming the text and the accepted forms.
  public init(parsing text: String) throws(RuntimeError) {
    let problem = RuntimeError(
      "--budget '\(text)' is not a duration: use seconds (900), or 90s, 15m, 1h, 1h30m")
    if let plain = Double(text) {
      guard plain.isFinite, plain > 0 else { throw problem }
      self.seconds = plain
      self.text = text
      return
    }
    var total = 0.0
    var number = ""
    var units: [Character] = []
    for character in text {
      if character.isASCII && (character.isNumber || character == ".") {
        number.append(character)
        continue
      }
      let scale: Double
      switch character {
      case "h": scale = 3600
      case "m": scale = 60
      case "s": scale = 1
      default: throw problem
      }
      guard let value = Double(number), value.isFinite, !units.contains(character) else {
        throw problem
      }
      if let last = units.last, "hms".firstIndex(of: last)! > "hms".firstIndex(of: character)! {
        throw problem
      }
      units.append(character)
      total += value * scale
      number = ""
    }
    guard number.isEmpty, !units.isEmpty, total > 0, total.isFinite else { throw problem }
    seconds = total
    self.text = text
  }

  /// The text as given.
  public var description: String { text }
}
