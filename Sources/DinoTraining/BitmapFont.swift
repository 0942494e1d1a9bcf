/// A 3×5 pixel font for plot labels: digits, `.`, `-`, space and the few letters the
/// training curves print (`a c e h i l n o p r s t y K`). Unknown characters draw nothing.
enum BitmapFont {
  /// Glyph rows, top first; `1` is ink.
  static let glyphs: [Character: [String]] = [
    "0": ["111", "101", "101", "101", "111"], "1": ["010", "110", "010", "010", "111"],
    "2": ["111", "001", "111", "100", "111"], "3": ["111", "001", "111", "001", "111"],
    "4": ["101", "101", "111", "001", "001"], "5": ["111", "100", "111", "001", "111"],
    "6": ["111", "100", "111", "101", "111"], "7": ["111", "001", "001", "001", "001"],
    "8": ["111", "101", "111", "101", "111"], "9": ["111", "101", "111", "001", "111"],
    ".": ["000", "000", "000", "000", "010"], "-": ["000", "000", "111", "000", "000"],
    " ": ["000", "000", "000", "000", "000"],
    "a": ["000", "011", "101", "101", "011"], "c": ["000", "011", "100", "100", "011"],
    "e": ["010", "101", "111", "100", "011"], "h": ["100", "100", "110", "101", "101"],
    "i": ["010", "000", "010", "010", "010"], "l": ["100", "100", "100", "100", "011"],
    "n": ["000", "110", "101", "101", "101"], "o": ["000", "010", "101", "101", "010"],
    "p": ["000", "110", "101", "110", "100"], "r": ["000", "101", "110", "100", "100"],
    "s": ["000", "011", "110", "011", "110"], "t": ["010", "111", "010", "010", "001"],
    "y": ["101", "101", "010", "010", "010"], "K": ["101", "101", "110", "101", "101"],
  ]

  /// Glyph width and height in font pixels.
  static let glyphWidth = 3
  static let glyphHeight = 5

  /// The width in canvas pixels of `text` drawn at `scale` (one font pixel of space
  /// between glyphs).
  static func width(_ text: String, scale: Int) -> Int {
    max(0, text.count * (glyphWidth + 1) - 1) * scale
  }

  /// Calls `ink(x, y)` for every canvas pixel of `text` with its top-left corner at
  /// (`x`, `y`), each font pixel a `scale`×`scale` square.
  static func draw(
    _ text: String, x: Int, y: Int, scale: Int, ink: (Int, Int) -> Void
  ) {
    for (i, character) in text.enumerated() {
      guard let rows = glyphs[character] else { continue }
      let left = x + i * (glyphWidth + 1) * scale
      for (row, bits) in rows.enumerated() {
        for (column, bit) in bits.enumerated() where bit == "1" {
          for dy in 0..<scale {
            for dx in 0..<scale { ink(left + column * scale + dx, y + row * scale + dy) }
          }
        }
      }
    }
  }
}
