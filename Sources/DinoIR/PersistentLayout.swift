/// Where each persistent buffer lives: one block of memory per region, carved by offsets.
///
/// A buffer's region is the first component of its name (`student`, `teacher`, `adam_m`,
/// `adam_v`, `adam_step`, `center`, …) and its *path* the rest (`backbone.blocks.0.norm1.weight`),
/// without the `student.` that optimiser state names repeat (`adam_m.student.head.weight` has
/// the path `head.weight`, like `student.head.weight` and `teacher.head.weight`).
/// The mirrored regions (`student`, `teacher`, `adam_m`, `adam_v`, and `grad`, where the
/// flat optimiser's gradients are computed) share one layout: a path
/// has the same offset in each of them, and each is as large as the whole layout (a region
/// lacking a path, e.g. `adam_m` for a frozen parameter, leaves a zero hole), so EMA and
/// AdamW are flat loops over equal offsets. Paths are laid out in the order of the student
/// buffers (`Graph.buffers()`), then the paths only other mirrored regions have. Every other
/// region packs its own buffers in `Graph.buffers()` order. Offsets and region sizes are
/// multiples of `arenaAlignment` (64).
public struct PersistentLayout: Hashable, Sendable {
  /// The place of one buffer.
  public struct Entry: Hashable, Sendable {
    /// Its region.
    public var region: String
    /// Byte offset from the region's start.
    public var offset: Int
    /// Its size in bytes.
    public var bytes: Int
    /// Creates an entry.
    public init(region: String, offset: Int, bytes: Int) {
      self.region = region
      self.offset = offset
      self.bytes = bytes
    }
  }

  /// The regions whose layouts are identical.
  public static let mirroredRegions = ["student", "teacher", "adam_m", "adam_v", "grad"]

  /// Each buffer's place, by full name.
  public var entries: [String: Entry]
  /// The regions, in order of first appearance in `Graph.buffers()`.
  public var regions: [String]
  /// Each region's size in bytes.
  public var regionBytes: [String: Int]

  /// Lays out the persistent buffers of `graph`.
  /// - Parameter graph: a verified graph.
  public init(_ graph: Graph) {
    let buffers = graph.buffers()
    func path(_ name: String) -> String {
      guard let dot = name.firstIndex(of: ".") else { return "" }
      let rest = name[name.index(after: dot)...]
      let isStudent = name[..<dot] == "student"
      return String(
        !isStudent && rest.hasPrefix("student.") ? rest.dropFirst("student.".count) : rest)
    }
    var regions: [String] = []
    for buffer in buffers where !regions.contains(buffer.region) { regions.append(buffer.region) }
    let mirrored = buffers.filter { Self.mirroredRegions.contains($0.region) }
    var paths: [String] = []
    var pathBytes: [String: Int] = [:]
    for buffer in mirrored.filter({ $0.region == "student" }) + mirrored {
      let p = path(buffer.name)
      if pathBytes[p] == nil { paths.append(p) }
      pathBytes[p] = max(pathBytes[p] ?? 0, buffer.type.byteSize)
    }
    var pathOffset: [String: Int] = [:]
    var mirroredBytes = 0
    for p in paths {
      pathOffset[p] = mirroredBytes
      mirroredBytes += alignedToArena(pathBytes[p] ?? 0)
    }
    var entries: [String: Entry] = [:]
    var regionBytes: [String: Int] = [:]
    for buffer in buffers {
      let bytes = buffer.type.byteSize
      if Self.mirroredRegions.contains(buffer.region) {
        entries[buffer.name] = Entry(
          region: buffer.region, offset: pathOffset[path(buffer.name)] ?? 0, bytes: bytes)
        regionBytes[buffer.region] = mirroredBytes
      } else {
        let offset = regionBytes[buffer.region] ?? 0
        entries[buffer.name] = Entry(region: buffer.region, offset: offset, bytes: bytes)
        regionBytes[buffer.region] = offset + alignedToArena(bytes)
      }
    }
    self.entries = entries
    self.regions = regions
    self.regionBytes = regionBytes
  }
}

/// The persistent layout of `graph` (see `PersistentLayout`).
/// - Parameter graph: a verified graph.
public func persistentLayout(_ graph: Graph) -> PersistentLayout { PersistentLayout(graph) }
