/// Reads little-endian fields from one section of a plan, never past the section's end.
///
/// Every read checks the remaining bytes first and throws a `PlanError` naming the section
/// and the absolute byte offset; nothing here can trap on hostile input.
struct ByteReader {
  /// The whole file.
  let bytes: [UInt8]
  /// The section's name, for messages.
  let section: String
  /// The next byte to read.
  private(set) var position: Int
  /// One past the section's last byte.
  let end: Int

  /// A reader over `bytes[range]`; the range must lie inside `bytes`.
  init(_ bytes: [UInt8], section: String, range: Range<Int>) {
    self.bytes = bytes
    self.section = section
    self.position = range.lowerBound
    self.end = range.upperBound
  }

  /// Bytes left in the section.
  var remaining: Int { end - position }

  /// An error at the current position.
  func error(_ message: String, at offset: Int? = nil) -> PlanError {
    let at = offset ?? position
    return PlanError(
      "section '\(section)' at byte 0x\(String(at, radix: 16, uppercase: true)): \(message)")
  }

  /// Reads `count` bytes as a little-endian unsigned integer.
  private mutating func le(_ count: Int, _ what: @autoclosure () -> String) throws(PlanError)
    -> UInt64
  {
    guard remaining >= count else {
      throw error("\(what()) needs \(count) bytes but the section ends after \(remaining)")
    }
    var v: UInt64 = 0
    for k in 0..<count { v |= UInt64(bytes[position + k]) << (8 * UInt64(k)) }
    position += count
    return v
  }

  /// Reads one byte.
  mutating func u8(_ what: @autoclosure () -> String) throws(PlanError) -> UInt8 {
    UInt8(try le(1, what()))
  }
  /// Reads a u16.
  mutating func u16(_ what: @autoclosure () -> String) throws(PlanError) -> UInt16 {
    UInt16(try le(2, what()))
  }
  /// Reads a u32.
  mutating func u32(_ what: @autoclosure () -> String) throws(PlanError) -> UInt32 {
    UInt32(try le(4, what()))
  }
  /// Reads a u64.
  mutating func u64(_ what: @autoclosure () -> String) throws(PlanError) -> UInt64 {
    try le(8, what())
  }
  /// Reads an i64.
  mutating func i64(_ what: @autoclosure () -> String) throws(PlanError) -> Int64 {
    Int64(bitPattern: try le(8, what()))
  }
  /// Reads a double.
  mutating func f64(_ what: @autoclosure () -> String) throws(PlanError) -> Double {
    Double(bitPattern: try le(8, what()))
  }
  /// Reads a float.
  mutating func f32(_ what: @autoclosure () -> String) throws(PlanError) -> Float {
    Float(bitPattern: UInt32(try le(4, what())))
  }

  /// Reads a u64 that must lie in `0...limit`.
  mutating func size(_ what: @autoclosure () -> String, limit: Int) throws(PlanError) -> Int {
    let start = position
    let v = try u64(what())
    guard v <= UInt64(limit) else {
      throw error("\(what()) \(v) exceeds the limit \(limit)", at: start)
    }
    return Int(v)
  }

  /// Reads a u32 count of elements that each take at least `minimumBytes`, refusing a count
  /// the rest of the section cannot hold (so a corrupt count never drives a long loop or a
  /// large allocation).
  mutating func count(_ what: @autoclosure () -> String, minimumBytes: Int) throws(PlanError) -> Int
  {
    let start = position
    let n = Int(try u32(what()))
    guard n <= remaining / max(1, minimumBytes) else {
      throw error("\(what()) \(n) cannot fit in the \(remaining) bytes left", at: start)
    }
    return n
  }

  /// Reads `count` raw bytes.
  mutating func raw(_ count: Int, _ what: @autoclosure () -> String) throws(PlanError)
    -> ArraySlice<UInt8>
  {
    guard count >= 0, remaining >= count else {
      throw error("\(what()) needs \(count) bytes but the section ends after \(remaining)")
    }
    defer { position += count }
    return bytes[position..<position + count]
  }

  /// Requires that the whole section was read.
  func finish() throws(PlanError) {
    if remaining != 0 { throw error("\(remaining) unexpected trailing bytes") }
  }
}
