import DinoIR
import DinoRandom

extension ReferenceInterpreter {
  /// Fresh persistent buffers for every `parameter` of `graph`, drawn from their init specs
  /// with a SplitMix64 stream keyed by `seed` and the buffer's name (the values are
  /// reproducible but are not the runtime's draws). `copy(other)` takes `other`'s value.
  /// - Throws: `ReferenceError` for an init spec that does not parse or a `copy` of an
  ///   unknown buffer or of a different shape.
  public static func initialBuffers(
    for graph: Graph, seed: UInt64 = 0
  ) throws(ReferenceError) -> [String: ReferenceTensor] {
    var buffers: [String: ReferenceTensor] = [:]
    var copies: [(BufferInfo, String)] = []
    for info in graph.buffers() {
      guard let spec = InitSpec(parsing: info.initSpec) else {
        throw ReferenceError("buffer '\(info.name)': init '\(info.initSpec)' does not parse")
      }
      var rng = SplitMix64(seed: CounterRandom.hash(seed, nameKey(info.name), 0, 0))
      let shape = info.type.shape
      switch spec {
      case .zeros: buffers[info.name] = ReferenceTensor(shape: shape)
      case .ones: buffers[info.name] = ReferenceTensor(shape: shape, repeating: 1)
      case .constant(let v): buffers[info.name] = ReferenceTensor(shape: shape, repeating: v)
      case .normal(let std):
        buffers[info.name] = ReferenceTensor(shape: shape) { _ in std * rng.nextNormal() }
      case .truncNormal(let std, let a, let b):
        buffers[info.name] = ReferenceTensor(shape: shape) { _ in
          for _ in 0..<64 {
            let draw = std * rng.nextNormal()
            if draw >= a && draw <= b { return draw }
          }
          return min(max(0, a), b)
        }
      case .uniform(let lo, let hi):
        buffers[info.name] = ReferenceTensor.random(shape: shape, in: lo...hi, using: &rng)
      case .copy(let source): copies.append((info, source))
      }
    }
    while !copies.isEmpty {
      let ready = copies.filter { buffers[$0.1] != nil }
      guard !ready.isEmpty else {
        let (info, source) = copies[0]
        throw ReferenceError(
          "buffer '\(info.name)': copy of '\(source)', which has no initial value"
            + " (unknown or a copy cycle)"
        )
      }
      for (info, source) in ready {
        let value = buffers[source]!
        if value.shape != info.type.shape {
          throw ReferenceError(
            "buffer '\(info.name)' \(info.type) copies '\(source)'"
              + " of shape \(shapeText(value.shape))"
          )
        }
        buffers[info.name] = value
      }
      copies.removeAll { buffers[$0.0.name] != nil }
    }
    return buffers
  }

  /// FNV-1a of a buffer name: the per-buffer key of `initialBuffers`.
  static func nameKey(_ name: String) -> UInt64 {
    var h: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in name.utf8 { h = (h ^ UInt64(byte)) &* 0x100_0000_01b3 }
    return h
  }
}
