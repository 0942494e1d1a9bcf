import CDinoKernels

/// Per-tensor CRC-32 checksums in a safetensors file's metadata: every file this project
/// writes records `crc32:<tensor name>` = 8 lowercase hex digits of the CRC-32 (zlib's) of
/// the tensor's stored bytes; reading verifies each recorded checksum and removes the keys
/// from `metadata`. Files without them (written by PyTorch's `safetensors`) are accepted.
package enum SafeTensorsChecksums {
  /// The metadata key prefix.
  static let prefix = "crc32:"

  /// The CRC-32 of `bytes` as 8 lowercase hex digits.
  package static func text(_ bytes: UnsafeRawBufferPointer) -> String {
    let crc = dino_crc32(0, bytes.baseAddress, bytes.count)
    let digits = String(crc, radix: 16)
    return String(repeating: "0", count: 8 - digits.count) + digits
  }

  /// `metadata` with one checksum key per tensor added (computed by `bytes(name)`).
  static func adding(
    to metadata: [String: String], names: [String],
    bytes: (String, (UnsafeRawBufferPointer) -> Void) -> Void
  ) -> [String: String] {
    var result = metadata.filter { !$0.key.hasPrefix(prefix) }
    for name in names {
      bytes(name) { result[prefix + name] = text($0) }
    }
    return result
  }

  /// Checks every recorded checksum against the stored bytes (`file` the whole file, data
  /// starting at `base`) and returns the metadata without the checksum keys.
  /// - Throws: one line naming the damaged tensor.
  static func verify(
    _ header: SafeTensorsHeader, file: [UInt8], base: Int
  ) throws(SafeTensorsError) -> [String: String] {
    let recorded = header.metadata.filter { $0.key.hasPrefix(prefix) }
    guard !recorded.isEmpty else { return header.metadata }
    let entries = Dictionary(
      header.entries.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    for (key, stored) in recorded.sorted(by: { $0.key < $1.key }) {
      let name = String(key.dropFirst(prefix.count))
      guard let entry = entries[name] else {
        throw SafeTensorsError(
          "metadata holds a checksum for tensor '\(name)', which the file lacks: the file is "
            + "damaged; restore it or use an earlier copy")
      }
      let actual = file.withUnsafeBytes { raw in
        text(UnsafeRawBufferPointer(rebasing: raw[(base + entry.begin)..<(base + entry.end)]))
      }
      guard actual == stored else {
        throw SafeTensorsError(
          "tensor '\(name)' fails its checksum (CRC-32 \(actual), recorded \(stored)): the file "
            + "is damaged; restore it or use an earlier copy")
      }
    }
    return header.metadata.filter { !$0.key.hasPrefix(prefix) }
  }
}
