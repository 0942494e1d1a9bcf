import DinoIR
import DinoRuntime
import Foundation

/// A ViT backbone under official DINO / timm state-dict names (`cls_token`, `pos_embed`,
/// `patch_embed.proj.weight`, `blocks.N.attn.qkv.weight`, …, `norm.bias`), the tensors a
/// plan holds as `teacher.backbone.*` and `student.backbone.*`, with the architecture in
/// the metadata: `format` = `dino-backbone`, `img_size`, `patch_size`, `in_chans`,
/// `embed_dim`, `depth`, `num_heads`, `mlp_ratio`, `qkv_bias`, `source`. Loadable with
/// `strict=True` into official `vision_transformer.VisionTransformer` and timm's
/// `VisionTransformer(..., qkv_bias=True, num_classes=0)` of that size.
public enum BackboneFile {
  /// The `format` metadata value.
  public static let format = "dino-backbone"
  /// The plan's buffers of one network's backbone start with `<region>.backbone.`.
  public static let prefix = "backbone."

  /// The plan's backbone buffers of `region` (`teacher`, `student`) by official name.
  /// - Throws: when the plan has no such backbone.
  public static func planBuffers(_ graph: Graph, region: String) throws(RuntimeError)
    -> [String: BufferInfo]
  {
    let full = region + "." + prefix
    var result: [String: BufferInfo] = [:]
    for buffer in graph.buffers() where buffer.name.hasPrefix(full) {
      result[String(buffer.name.dropFirst(full.count))] = buffer
    }
    guard result["cls_token"] != nil, result["pos_embed"] != nil else {
      throw RuntimeError("the plan has no ViT backbone under \(full)* (compile a DINO model)")
    }
    return result
  }

  /// The architecture of the plan's backbone as metadata.
  public static func architecture(_ graph: Graph, source: BackboneSource) throws(RuntimeError)
    -> [String: String]
  {
    let buffers = try planBuffers(graph, region: "teacher")
    let hyper = graph.hyper
    guard let patch = hyper["patch"], let dim = hyper["dim"], let depth = hyper["depth"],
      let heads = hyper["heads"], let pos = buffers["pos_embed"], pos.type.rank == 3,
      let proj = buffers["patch_embed.proj.weight"], proj.type.rank == 4,
      let fc1 = buffers["blocks.0.mlp.fc1.weight"]
    else {
      throw RuntimeError("the plan does not record its ViT's patch, dim, depth and heads")
    }
    let grid = Int(Double(pos.type.shape[1] - 1).squareRoot().rounded())
    let ratio = Double(fc1.type.shape[0]) / dim
    return [
      "format": format, "img_size": "\(grid * Int(patch))", "patch_size": "\(Int(patch))",
      "in_chans": "\(proj.type.shape[1])", "embed_dim": "\(Int(dim))", "depth": "\(Int(depth))",
      "num_heads": "\(Int(heads))", "mlp_ratio": "\(ratio)", "qkv_bias": "True",
      "layer_norm_eps": "1e-06", "source": source.rawValue,
    ]
  }

  /// The backbone of `source` in `checkpoint` under official names, checked against the
  /// plan's buffers (every one present, shapes equal), with the architecture metadata.
  public static func export(
    _ checkpoint: SafeTensors, graph: Graph, source: BackboneSource, checkpointName: String
  ) throws(RuntimeError) -> SafeTensors {
    let buffers = try planBuffers(graph, region: "teacher")
    var tensors: [String: HostTensor] = [:]
    for (name, buffer) in buffers {
      let stored = source.rawValue + "." + prefix + name
      guard let tensor = checkpoint.tensors[stored] else {
        throw RuntimeError("\(checkpointName) has no '\(stored)' (needed for the backbone)")
      }
      guard tensor.shape == buffer.type.shape, tensor.dtype == buffer.type.dtype else {
        throw RuntimeError(
          "\(checkpointName): '\(stored)' is \(tensor.type) but the plan's is \(buffer.type)")
      }
      tensors[name] = tensor
    }
    return SafeTensors(tensors: tensors, metadata: try architecture(graph, source: source))
  }

  /// Whether `file` looks like a backbone file: its `format`, or official names without
  /// any `student.` / `teacher.` tensor.
  public static func isBackbone(_ file: SafeTensors) -> Bool {
    if file.metadata["format"] == format { return true }
    return file.tensors["cls_token"] != nil
      && !file.tensors.keys.contains { $0.hasPrefix("student.") || $0.hasPrefix("teacher.") }
  }
}
