extension Runtime {
  /// A copy of every persistent region (weights, optimiser state, center), to put the
  /// runtime back exactly where it was (a time budget's pilot steps are undone this way).
  public struct Snapshot: Sendable {
    fileprivate let regions: [String: [UInt8]]
  }

  /// Copies every persistent region.
  public func snapshot() -> Snapshot {
    var regions: [String: [UInt8]] = [:]
    for (name, base) in regionBase {
      let bytes = regionBytes[name] ?? 0
      regions[name] = Array(UnsafeRawBufferPointer(start: UnsafeRawPointer(base), count: bytes))
    }
    return Snapshot(regions: regions)
  }

  /// Puts every persistent region back to `snapshot`, bit for bit.
  public func restore(_ snapshot: Snapshot) {
    for (name, bytes) in snapshot.regions {
      guard let base = regionBase[name], regionBytes[name] == bytes.count else { continue }
      bytes.withUnsafeBytes { base.copyMemory(from: $0.baseAddress!, byteCount: $0.count) }
    }
  }
}
