/// Appends little-endian fields to a byte array.
struct ByteWriter {
  /// The bytes written so far.
  var bytes: [UInt8] = []

  /// Appends one byte.
  mutating func u8(_ v: UInt8) { bytes.append(v) }
  /// Appends a little-endian u16.
  mutating func u16(_ v: UInt16) { le(UInt64(v), 2) }
  /// Appends a little-endian u32.
  mutating func u32(_ v: UInt32) { le(UInt64(v), 4) }
  /// Appends a little-endian u64.
  mutating func u64(_ v: UInt64) { le(v, 8) }
  /// Appends a little-endian two's-complement i64.
  mutating func i64(_ v: Int64) { le(UInt64(bitPattern: v), 8) }
  /// Appends an IEEE double's bits.
  mutating func f64(_ v: Double) { le(v.bitPattern, 8) }
  /// Appends an IEEE float's bits.
  mutating func f32(_ v: Float) { le(UInt64(v.bitPattern), 4) }

  /// Overwrites a little-endian u32 at `offset`.
  mutating func patch32(_ v: UInt32, at offset: Int) {
    for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
  }
  /// Overwrites a little-endian u64 at `offset`.
  mutating func patch64(_ v: UInt64, at offset: Int) {
    for k in 0..<8 { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
  }

  private mutating func le(_ v: UInt64, _ count: Int) {
    for k in 0..<count { bytes.append(UInt8(truncatingIfNeeded: v >> (8 * UInt64(k)))) }
  }
}
