import DinoIR
import DinoOps
import DinoRuntime

/// The teacher's last-block attention of the CLS query over the patches, per head: the
/// plan's `attention` program (input `image` [B,C,G,G], output `attention`
/// [B, heads, (G/p)²]). The program's shapes are static, so every image enters at the
/// plan's global size G.
public final class AttentionExtractor {
  /// A runtime holding only the `attention` program and the buffers it reads.
  public let runtime: Runtime
  /// The program's input type, [B, C, G, G].
  public let inputType: TensorType
  /// Attention heads.
  public let heads: Int
  /// Patches per image, (G/p)².
  public let patches: Int

  /// Loads the `attention` program of `graph` (a planned graph).
  /// - Throws: one line when the plan has no usable `attention` program.
  public init(graph: Graph, threads: Int = 1) throws(RuntimeError) {
    runtime = try singleProgramRuntime(graph, program: "attention", threads: threads)
    let image = try squareImageInput(runtime, program: "attention")
    guard
      let out = try runtime.outputs(of: "attention").first(where: { $0.name == "attention" }),
      out.type.rank == 3, out.type.shape[0] == image.type.shape[0]
    else {
      throw RuntimeError("@attention must return 'attention' f32[B,heads,patches]")
    }
    inputType = image.type
    heads = out.type.shape[1]
    patches = out.type.shape[2]
    let side = Int(Double(patches).squareRoot().rounded())
    guard side * side == patches else {
      throw RuntimeError("@attention returns \(patches) patches, not a square grid")
    }
  }

  /// Images per program run.
  public var batch: Int { inputType.shape[0] }
  /// Input channels.
  public var channels: Int { inputType.shape[1] }
  /// The side G of the images the program takes.
  public var imageSize: Int { inputType.shape[2] }
  /// The side of the patch grid, G/p.
  public var gridSide: Int { Int(Double(patches).squareRoot().rounded()) }

  /// Loads the buffers the program reads from the teacher (or the student) of a
  /// checkpoint or weights file.
  public func loadWeights(contentsOf path: String, source: BackboneSource = .teacher)
    throws(RuntimeError)
  {
    try loadBackboneWeights(
      into: runtime, contentsOf: path, source: source,
      purpose: "attention maps come from the \(source) backbone")
  }

  /// The attention of each image: `images` holds n × C·G·G normalised floats; the result
  /// holds n × heads × patches weights (each head's row sums to at most 1: the CLS key's
  /// own weight is left out, as in the official maps).
  public func attention(_ images: [Float]) throws(RuntimeError) -> [Float] {
    let per = inputType.shape.dropFirst().reduce(1, *)
    guard images.count % per == 0, !images.isEmpty else {
      throw RuntimeError("attention: \(images.count) floats are not whole \(per)-float images")
    }
    return try runtime.runBatched(
      "attention", input: "image", output: "attention", rows: images, rowFloats: per,
      batch: batch, outFloatsPerRow: heads * patches)
  }
}
