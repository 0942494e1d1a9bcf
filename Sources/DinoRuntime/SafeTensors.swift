import DinoIR

/// A safetensors file held in memory: named tensors plus string metadata.
///
/// Format (huggingface/safetensors): an unsigned 64-bit little-endian header length `N`,
/// `N` bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]},
/// "__metadata__": {str: str}}` (padded with spaces), then the raw little-endian data;
/// offsets are relative to the first data byte and the tensors tile the data exactly.
/// Reading accepts F32, I32, and converts F64/F16/BF16 to f32 and I64 to i32 (range
/// checked); writing produces F32 and I32.
public struct SafeTensors: Hashable, Sendable {
  /// The tensors by name.
  public var tensors: [String: HostTensor]
  /// The `__metadata__` map.
  public var metadata: [String: String]

  /// Largest header accepted when reading (the reference implementation's limit).
  public static let maxHeaderBytes = 100_000_000

  /// Creates a file's contents.
  /// - Parameters:
  ///   - tensors: the tensors by name.
  ///   - metadata: free-form string pairs.
  public init(tensors: [String: HostTensor] = [:], metadata: [String: String] = [:]) {
    self.tensors = tensors
    self.metadata = metadata
  }

  /// Reads and validates the file at `path`.
  /// - Throws: a one-line error starting with the path.
  public static func read(contentsOf path: String) throws(SafeTensorsError) -> SafeTensors {
    let bytes: [UInt8]
    do {
      bytes = try FileIO.readAll(path)
    } catch {
      throw SafeTensorsError(error.message)
    }
    do {
      return try decode(bytes)
    } catch {
      throw SafeTensorsError("\(path): \(error.message)")
    }
  }

  /// Decodes and validates a whole file's bytes.
  /// - Throws: a one-line error naming the first problem (and the tensor, where one is at fault).
  public static func decode(_ bytes: [UInt8]) throws(SafeTensorsError) -> SafeTensors {
    let header = try SafeTensorsHeader.decode(bytes)
    let base = 8 + header.headerBytes
    var result = SafeTensors(
      metadata: try SafeTensorsChecksums.verify(header, file: bytes, base: base))
    let outOfRange = bytes.withUnsafeBytes { raw -> String? in
      for entry in header.entries where entry.dtype == .i64 {
        for i in stride(from: base + entry.begin, to: base + entry.end, by: 8) {
          let v = Int64(littleEndian: raw.loadUnaligned(fromByteOffset: i, as: Int64.self))
          if Int32(exactly: v) == nil {
            return "tensor '\(entry.name)': I64 value \(v) does not fit in i32"
          }
        }
      }
      return nil
    }
    if let outOfRange { throw SafeTensorsError(outOfRange) }
    bytes.withUnsafeBytes { raw in
      for entry in header.entries {
        let data = UnsafeRawBufferPointer(rebasing: raw[(base + entry.begin)..<(base + entry.end)])
        result.tensors[entry.name] = entry.dtype.convert(data, shape: entry.shape)
      }
    }
    return result
  }

  /// The file's bytes: tensors in name order, header padded to a multiple of 8, with a
  /// CRC-32 per tensor in the metadata (`SafeTensorsChecksums`).
  public func encoded() -> [UInt8] {
    let entries = sortedEntries()
    let checked = SafeTensorsChecksums.adding(to: metadata, names: entries.map(\.0)) {
      name, body in tensors[name]!.withUnsafeBytes { body($0) }
    }
    var out = SafeTensorsWriter.header(for: entries.map { ($0.0, $0.1.type) }, metadata: checked)
    for (_, tensor) in entries {
      tensor.withUnsafeBytes { out += $0 }
    }
    return out
  }

  /// Writes the file atomically (temporary file in the same folder, fsync, rename).
  /// - Parameter path: the destination; replaced if it exists.
  public func write(to path: String) throws(SafeTensorsError) {
    let bytes = encoded()
    do {
      try FileIO.writeAtomically(path) { sink in bytes.withUnsafeBytes { sink.write($0) } }
    } catch {
      throw SafeTensorsError(error.message)
    }
  }

  private func sortedEntries() -> [(String, HostTensor)] {
    tensors.keys.sorted().map { ($0, tensors[$0]!) }
  }
}

/// A safetensors read or write failure, as one line.
public struct SafeTensorsError: Error, Hashable, Sendable, CustomStringConvertible {
  /// The message, e.g. `w.safetensors: tensor 'fc.weight': data_offsets [0,12] hold 12
  /// bytes, shape [2,3] F32 needs 24`.
  public var message: String
  /// Creates an error.
  public init(_ message: String) { self.message = message }
  /// The message.
  public var description: String { message }
}

/// The element types the reader understands.
enum SafeTensorsDType: String {
  case f32 = "F32"
  case i32 = "I32"
  case f64 = "F64"
  case f16 = "F16"
  case bf16 = "BF16"
  case i64 = "I64"

  var byteSize: Int {
    switch self {
    case .f32, .i32: 4
    case .f64, .i64: 8
    case .f16, .bf16: 2
    }
  }

  /// Converts little-endian `data` (already checked to hold `shape`) to a host tensor.
  func convert(_ data: UnsafeRawBufferPointer, shape: [Int]) -> HostTensor {
    let n = data.count / byteSize
    func load<T>(_: T.Type, _ i: Int) -> T {
      data.loadUnaligned(fromByteOffset: i * byteSize, as: T.self)
    }
    switch self {
    case .f32:
      return HostTensor(
        shape: shape,
        floats: (0..<n).map { Float(bitPattern: UInt32(littleEndian: load(UInt32.self, $0))) })
    case .i32:
      return HostTensor(
        shape: shape, ints: (0..<n).map { Int32(littleEndian: load(Int32.self, $0)) })
    case .f64:
      return HostTensor(
        shape: shape,
        floats: (0..<n).map {
          Float(Double(bitPattern: UInt64(littleEndian: load(UInt64.self, $0))))
        })
    case .f16:
      return HostTensor(
        shape: shape,
        floats: (0..<n).map { halfToFloat(UInt16(littleEndian: load(UInt16.self, $0))) })
    case .bf16:
      return HostTensor(
        shape: shape,
        floats: (0..<n).map {
          Float(bitPattern: UInt32(UInt16(littleEndian: load(UInt16.self, $0))) << 16)
        })
    case .i64:
      return HostTensor(
        shape: shape, ints: (0..<n).map { Int32(Int64(littleEndian: load(Int64.self, $0))) })
    }
  }
}

/// IEEE binary16 → binary32, exact (subnormals, infinities and NaN included).
func halfToFloat(_ h: UInt16) -> Float {
  let sign: Float = h & 0x8000 != 0 ? -1 : 1
  let exponent = Int((h >> 10) & 0x1F)
  let mantissa = Float(h & 0x3FF)
  switch exponent {
  case 0: return sign * mantissa * 0x1p-24
  case 31: return mantissa == 0 ? sign * .infinity : .nan
  default:
    return sign * (1 + mantissa / 1024)
      * Float(sign: .plus, exponent: exponent - 15, significand: 1)
  }
}

/// One validated header entry.
struct SafeTensorsEntry {
  var name: String
  var dtype: SafeTensorsDType
  var shape: [Int]
  var begin: Int
  var end: Int
}

/// The validated header of a safetensors file.
struct SafeTensorsHeader {
  var headerBytes: Int
  var entries: [SafeTensorsEntry]
  var metadata: [String: String]

  /// Parses and checks the header against the file size: lengths, JSON, dtypes, shapes,
  /// offsets in range, byte counts matching shapes, no overlaps or gaps.
  static func decode(_ bytes: [UInt8]) throws(SafeTensorsError) -> SafeTensorsHeader {
    func fail(_ message: String) -> SafeTensorsError { SafeTensorsError(message) }
    guard bytes.count >= 8 else {
      throw fail("file is \(bytes.count) bytes, too short for the 8-byte header length")
    }
    var length: UInt64 = 0
    for i in 0..<8 { length |= UInt64(bytes[i]) << (8 * UInt64(i)) }
    guard length >= 2, length <= UInt64(SafeTensors.maxHeaderBytes) else {
      throw fail("header length \(length) is not in 2...\(SafeTensors.maxHeaderBytes)")
    }
    let headerBytes = Int(length)
    guard 8 + headerBytes <= bytes.count else {
      throw fail("header length \(headerBytes) runs past the end of the \(bytes.count)-byte file")
    }
    guard bytes[8] == UInt8(ascii: "{") else { throw fail("header does not start with '{'") }
    let json: JSON
    do {
      json = try JSON.parse(bytes[8..<(8 + headerBytes)])
    } catch {
      throw fail("header is not valid JSON: \(error.message)")
    }
    guard case .object(let members) = json else { throw fail("header is not a JSON object") }
    let dataBytes = bytes.count - 8 - headerBytes
    var entries: [SafeTensorsEntry] = []
    var metadata: [String: String] = [:]
    for (name, value) in members {
      if name == "__metadata__" {
        guard case .object(let pairs) = value else { throw fail("__metadata__ is not an object") }
        for (key, item) in pairs {
          guard case .string(let text) = item else {
            throw fail("__metadata__ value for '\(key)' is not a string")
          }
          metadata[key] = text
        }
        continue
      }
      entries.append(try entry(name, value, dataBytes: dataBytes))
    }
    entries.sort { ($0.begin, $0.end, $0.name) < ($1.begin, $1.end, $1.name) }
    var covered = 0
    for entry in entries {
      if entry.begin < covered {
        throw fail(
          "tensor '\(entry.name)': data_offsets [\(entry.begin),\(entry.end)] "
            + "overlap another tensor"
        )
      }
      if entry.begin > covered {
        throw fail(
          "tensor '\(entry.name)': data_offsets [\(entry.begin),\(entry.end)] "
            + "leave a gap at byte \(covered)"
        )
      }
      covered = entry.end
    }
    if covered != dataBytes {
      throw fail("tensors cover \(covered) bytes but the data section has \(dataBytes)")
    }
    return SafeTensorsHeader(headerBytes: headerBytes, entries: entries, metadata: metadata)
  }

  private static func entry(_ name: String, _ value: JSON, dataBytes: Int) throws(SafeTensorsError)
    -> SafeTensorsEntry
  {
    func fail(_ message: String) -> SafeTensorsError {
      SafeTensorsError("tensor '\(name)': \(message)")
    }
    guard case .object(let fields) = value else { throw fail("entry is not an object") }
    var dtypeText: String?
    var shapeJSON: [JSON]?
    var offsetsJSON: [JSON]?
    for (key, field) in fields {
      switch (key, field) {
      case ("dtype", .string(let s)): dtypeText = s
      case ("shape", .array(let a)): shapeJSON = a
      case ("data_offsets", .array(let a)): offsetsJSON = a
      case ("dtype", _), ("shape", _), ("data_offsets", _):
        throw fail("field '\(key)' has the wrong JSON type")
      default: throw fail("unknown field '\(key)'")
      }
    }
    guard let dtypeText else { throw fail("missing 'dtype'") }
    guard let shapeJSON else { throw fail("missing 'shape'") }
    guard let offsetsJSON else { throw fail("missing 'data_offsets'") }
    guard let dtype = SafeTensorsDType(rawValue: dtypeText) else {
      throw fail("unsupported dtype \(dtypeText) (F32, I32, F64, F16, BF16, I64 are read)")
    }
    var shape: [Int] = []
    for dim in shapeJSON {
      guard let extent = dim.nonNegativeInt else {
        throw fail("shape has a non-integer or negative extent")
      }
      shape.append(extent)
    }
    var count = 1
    if !shape.contains(0) {
      for extent in shape {
        let (product, overflow) = count.multipliedReportingOverflow(by: extent)
        guard !overflow, product <= dataBytes else {
          throw fail("shape \(shapeText(shape)) is larger than the \(dataBytes)-byte data section")
        }
        count = product
      }
    } else {
      count = 0
    }
    guard offsetsJSON.count == 2, let begin = offsetsJSON[0].nonNegativeInt,
      let end = offsetsJSON[1].nonNegativeInt
    else { throw fail("data_offsets must be two non-negative integers") }
    guard begin <= end, end <= dataBytes else {
      throw fail("data_offsets [\(begin),\(end)] are outside the \(dataBytes)-byte data section")
    }
    let needed = count * dtype.byteSize
    guard end - begin == needed else {
      throw fail(
        "data_offsets [\(begin),\(end)] hold \(end - begin) bytes, "
          + "shape \(shapeText(shape)) \(dtype.rawValue) needs \(needed)"
      )
    }
    return SafeTensorsEntry(name: name, dtype: dtype, shape: shape, begin: begin, end: end)
  }
}
