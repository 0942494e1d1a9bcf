import DinoIR

/// Streams tensors into a safetensors file straight from memory the caller owns (runtime
/// buffers), without first copying them into `HostTensor`s.
public enum SafeTensorsWriter {
  /// One tensor to write: a name, its type, and its bytes (valid for the call).
  public struct Entry {
    /// The tensor's name in the file.
    public var name: String
    /// Its type; `bytes.count` must equal `type.byteSize`.
    public var type: TensorType
    /// Its little-endian elements.
    public var bytes: UnsafeRawBufferPointer

    /// Creates an entry.
    public init(name: String, type: TensorType, bytes: UnsafeRawBufferPointer) {
      self.name = name
      self.type = type
      self.bytes = bytes
    }
  }

  /// Writes `entries` (in the given order) atomically to `path`.
  /// - Parameters:
  ///   - path: the destination; replaced if it exists.
  ///   - metadata: the `__metadata__` map (a CRC-32 per tensor is added).
  ///   - entries: the tensors; names must be unique and not `__metadata__`.
  public static func write(to path: String, metadata: [String: String] = [:], entries: [Entry])
    throws(SafeTensorsError)
  {
    var names = Set<String>()
    for entry in entries {
      if entry.name == "__metadata__" || !names.insert(entry.name).inserted {
        throw SafeTensorsError("\(path): tensor name '\(entry.name)' is reserved or repeated")
      }
      if entry.bytes.count != entry.type.byteSize {
        throw SafeTensorsError(
          "\(path): tensor '\(entry.name)' has \(entry.bytes.count) bytes, "
            + "\(entry.type) needs \(entry.type.byteSize)"
        )
      }
    }
    let byName = Dictionary(entries.map { ($0.name, $0.bytes) }, uniquingKeysWith: { a, _ in a })
    let checked = SafeTensorsChecksums.adding(to: metadata, names: entries.map(\.name)) {
      name, body in body(byName[name]!)
    }
    let head = header(for: entries.map { ($0.name, $0.type) }, metadata: checked)
    do {
      try FileIO.writeAtomically(path) { sink in
        head.withUnsafeBytes { sink.write($0) }
        for entry in entries { sink.write(entry.bytes) }
      }
    } catch {
      throw SafeTensorsError(error.message)
    }
  }

  /// The 8-byte length plus the JSON header (padded with spaces to a multiple of 8) for
  /// tensors laid out back to back in the given order.
  static func header(for entries: [(String, TensorType)], metadata: [String: String]) -> [UInt8] {
    var parts: [String] = []
    if !metadata.isEmpty {
      let pairs = metadata.keys.sorted().map { "\(JSON.quote($0)):\(JSON.quote(metadata[$0]!))" }
      parts.append("\"__metadata__\":{\(pairs.joined(separator: ","))}")
    }
    var offset = 0
    for (name, type) in entries {
      let dtype = type.dtype == .f32 ? "F32" : "I32"
      let shape = type.shape.map(String.init).joined(separator: ",")
      parts.append(
        "\(JSON.quote(name)):{\"dtype\":\"\(dtype)\",\"shape\":[\(shape)],"
          + "\"data_offsets\":[\(offset),\(offset + type.byteSize)]}"
      )
      offset += type.byteSize
    }
    var json = Array("{\(parts.joined(separator: ","))}".utf8)
    while (8 + json.count) % 8 != 0 { json.append(0x20) }
    var out: [UInt8] = []
    out.reserveCapacity(8 + json.count)
    let length = UInt64(json.count)
    for i in 0..<8 { out.append(UInt8(truncatingIfNeeded: length >> (8 * UInt64(i)))) }
    return out + json
  }
}
