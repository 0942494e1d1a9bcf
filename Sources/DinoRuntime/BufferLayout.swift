import DinoIR

/// Where each persistent buffer lives: one flat region per name prefix (`student`,
/// `teacher`, `adam_m`, …), buffers back to back at 64-byte aligned offsets.
///
/// The order inside a region is deterministic and shared: a buffer `<region>.<path>`
/// whose path (or `student.<path>`) names a `student` buffer takes that buffer's position
/// in the student order; others follow in order of first appearance. So `teacher`,
/// `adam_m` and `adam_v`, which mirror `student`, get identical offsets, and EMA or AdamW
/// over whole regions are single passes over flat memory.
public struct BufferLayout: Hashable, Sendable {
  /// Where one buffer lives.
  public struct Placement: Hashable, Sendable {
    /// The buffer's full name.
    public var name: String
    /// Its type.
    public var type: TensorType
    /// The region (first name component).
    public var region: String
    /// The byte offset in the region, a multiple of `BufferLayout.alignment`.
    public var offset: Int
  }

  /// Alignment of every region and every buffer inside one.
  public static let alignment = 64

  /// The regions in order of first appearance, with their byte sizes (multiples of 64).
  public var regions: [(name: String, bytes: Int)]
  /// Every buffer, in graph order (`Graph.buffers()`).
  public var placements: [Placement]

  /// Lays out the persistent buffers of `graph`.
  public init(_ graph: Graph) {
    let buffers = graph.buffers()
    let studentOrder = Dictionary(
      buffers.filter { $0.region == "student" }.enumerated().map { (Self.path(of: $1.name), $0) },
      uniquingKeysWith: { a, _ in a })
    var regionOrder: [String] = []
    var members: [String: [(rank: Int, appearance: Int, info: BufferInfo)]] = [:]
    for (appearance, info) in buffers.enumerated() {
      let region = info.region
      if members[region] == nil { regionOrder.append(region) }
      var key = Self.path(of: info.name)
      if key.hasPrefix("student.") { key.removeFirst("student.".count) }
      let rank = studentOrder[key] ?? Int.max
      members[region, default: []].append((rank, appearance, info))
    }
    var placements: [String: Placement] = [:]
    regions = []
    for region in regionOrder {
      var offset = 0
      let sorted = members[region]!.sorted { ($0.rank, $0.appearance) < ($1.rank, $1.appearance) }
      for member in sorted {
        placements[member.info.name] = Placement(
          name: member.info.name, type: member.info.type, region: region, offset: offset)
        offset += Self.aligned(member.info.type.byteSize)
      }
      regions.append((region, offset))
    }
    self.placements = buffers.map { placements[$0.name]! }
  }

  /// `n` rounded up to the alignment.
  static func aligned(_ n: Int) -> Int { (n + alignment - 1) / alignment * alignment }

  /// The name without its region component.
  static func path(of name: String) -> String {
    guard let dot = name.firstIndex(of: ".") else { return "" }
    return String(name[name.index(after: dot)...])
  }

  /// Layouts are equal when regions and placements are.
  public static func == (a: BufferLayout, b: BufferLayout) -> Bool {
    a.placements == b.placements && a.regions.elementsEqual(b.regions) { $0 == $1 }
  }

  /// Hashes the placements.
  public func hash(into hasher: inout Hasher) { hasher.combine(placements) }
}
