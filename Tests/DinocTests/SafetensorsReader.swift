import Foundation

/// A minimal safetensors reader for the committed reference files: an 8-byte little-endian
/// header length, a JSON header (`name: {dtype, shape, data_offsets}`, `__metadata__`), then
/// the raw little-endian data.
struct SafetensorsReader {
  /// One tensor's header entry.
  struct Entry {
    var dtype: String
    var shape: [Int]
    var range: Range<Int>
  }

  /// A malformed file.
  struct Malformed: Error, CustomStringConvertible {
    var description: String
  }

  /// Tensors by name.
  let entries: [String: Entry]
  /// The `__metadata__` strings.
  let metadata: [String: String]
  private let payload: Data

  /// Reads the file at `url`.
  init(_ url: URL) throws {
    let bytes = try Data(contentsOf: url)
    guard bytes.count >= 8 else { throw Malformed(description: "\(url.path): too short") }
    let length = bytes.prefix(8).enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    guard 8 + length <= bytes.count,
      let header = try JSONSerialization.jsonObject(with: bytes.subdata(in: 8..<(8 + length)))
        as? [String: Any]
    else { throw Malformed(description: "\(url.path): bad header") }
    var entries: [String: Entry] = [:]
    var metadata: [String: String] = [:]
    for (name, value) in header {
      if name == "__metadata__" {
        metadata = value as? [String: String] ?? [:]
        continue
      }
      guard let info = value as? [String: Any], let dtype = info["dtype"] as? String,
        let shape = info["shape"] as? [Int], let offsets = info["data_offsets"] as? [Int],
        offsets.count == 2
      else { throw Malformed(description: "\(url.path): bad entry \(name)") }
      entries[name] = Entry(dtype: dtype, shape: shape, range: offsets[0]..<offsets[1])
    }
    self.entries = entries
    self.metadata = metadata
    payload = bytes.subdata(in: (8 + length)..<bytes.count)
  }

  /// The values of the F32 tensor `name`, widened to Double.
  func doubles(_ name: String) throws -> [Double] {
    guard let entry = entries[name], entry.dtype == "F32",
      entry.range.upperBound <= payload.count,
      entry.range.count == 4 * entry.shape.reduce(1, *)
    else { throw Malformed(description: "no F32 tensor '\(name)'") }
    let slice = payload.subdata(in: entry.range)
    return stride(from: 0, to: slice.count, by: 4).map { i in
      let bits = (0..<4).reduce(UInt32(0)) { $0 | UInt32(slice[i + $1]) << (8 * UInt32($1)) }
      return Double(Float(bitPattern: bits))
    }
  }
}

/// The committed official-DINO reference files (`tools/make_dino_reference.py`).
enum ReferenceFiles {
  /// `Tests/DinoRuntimeTests/Reference`.
  static let folder = DinocRunner.packageRoot.appendingPathComponent(
    "Tests/DinoRuntimeTests/Reference")

  /// Opens `<name>.safetensors` there.
  static func open(_ name: String) throws -> SafetensorsReader {
    try SafetensorsReader(folder.appendingPathComponent("\(name).safetensors"))
  }
}
