// dino-dsl-version: 1
//
// DINO with a ViT-Tiny/16 student and teacher, at the paper's settings: 2 global crops of 224
// and 8 local crops of 96 (RGB), a 2048/2048/256 → 65536 head with a normalised last layer,
// drop path 0.1, official DINO's optimiser and schedule defaults; batch 8 (the `tiny224`
// benchmark). Every number can be changed without editing this file:
//   dinoc compile Samples/vit_tiny_dino.swift -o tiny.plan.bin -D batch=32 -D epochs=300
import DinoDSL

var defaults = DINOTraining()  // official defaults: lr 0.0005, teacher_temp 0.04, …
defaults.batch = 8
let training = defaults.withOptions()  // -D batch=…, lr=…, local_crops=…, every key

let imageSize = Option("image_size", default: 224)  // the position table's image side
let patch = Option("patch", default: 16)
let dim = Option("dim", default: 192)
let depth = Option("depth", default: 12)
let heads = Option("heads", default: 3)
let dropPath = Option("drop_path", default: 0.1)
let outDim = Option("out_dim", default: 65536)
let hiddenDim = Option("hidden_dim", default: 2048)
let bottleneckDim = Option("bottleneck_dim", default: 256)
let normLastLayer = Option("norm_last_layer", default: true)
let studentTemp = Option("student_temp", default: 0.1)

/// A ViT-Tiny backbone plus a DINO head; the teacher has no drop path.
func network(dropPath: Double, normLastLayer: Bool) -> MultiCropWrapper {
  MultiCropWrapper(
    backbone: VisionTransformer(
      imageSize: imageSize, patch: patch, channels: training.channels, dim: dim, depth: depth,
      heads: heads, mlpRatio: 4, dropPath: dropPath),
    head: DINOHead(
      inDim: dim, outDim: outDim, hidden: hiddenDim, bottleneck: bottleneckDim, layers: 3,
      normLastLayer: normLastLayer))
}

Model("vit_tiny_dino") { model in
  DINO(
    student: network(dropPath: dropPath, normLastLayer: normLastLayer),
    teacher: network(dropPath: 0, normLastLayer: true),
    loss: DINOLoss(outDim: outDim, studentTemp: studentTemp),
    training: training
  ).emit(into: model)
}
