import DinoIR
import DinoPlan

/// Where one persistent buffer lives in the runtime's regions.
struct BufferPlacement {
  /// The buffer's full name.
  var name: String
  /// Its type.
  var type: TensorType
  /// Its init spec.
  var initSpec: String
  /// Its region (first name component).
  var region: String
  /// Byte offset in the region.
  var offset: Int

  /// Every buffer of `graph` placed by `layout`, in `Graph.buffers()` order.
  static func all(_ graph: Graph, layout: PersistentLayout) -> [BufferPlacement] {
    graph.buffers().map { info in
      let entry = layout.entries[info.name]!
      return BufferPlacement(
        name: info.name, type: info.type, initSpec: info.initSpec, region: entry.region,
        offset: entry.offset)
    }
  }
}
