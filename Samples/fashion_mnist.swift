// dino-dsl-version: 1
//
// DINO on Fashion-MNIST (the `fmnist` benchmark): grey 28×28 images, 2 global crops of 28 and
// 6 local crops of 12, a ViT with patch 4, dim 192, depth 6, heads 3, and a 1024/1024/128 →
// 4096 head; batch 64; official DINO's optimiser and schedule defaults otherwise.
//   dinoc compile Samples/fashion_mnist.swift -o fmnist.plan.bin -D depth=4 -D epochs=50
// The one-step parity references (Tests/DinoTrainingTests/Reference) are this file compiled
// with the small sizes in their `defines` metadata.
import DinoDSL

var defaults = DINOTraining()
defaults.batch = 64
defaults.channels = 1
defaults.globalSize = 28
defaults.localSize = 12
defaults.localCrops = 6
let training = defaults.withOptions()  // -D batch=…, lr=…, local_crops=…, every key

let imageSize = Option("image_size", default: training.globalSize)  // position table side
let patch = Option("patch", default: 4)
let dim = Option("dim", default: 192)
let depth = Option("depth", default: 6)
let heads = Option("heads", default: 3)
let dropPath = Option("drop_path", default: 0.1)
let outDim = Option("out_dim", default: 4096)
let hiddenDim = Option("hidden_dim", default: 1024)
let bottleneckDim = Option("bottleneck_dim", default: 128)
let normLastLayer = Option("norm_last_layer", default: true)
let studentTemp = Option("student_temp", default: 0.1)

/// The backbone plus the DINO head; the teacher has no drop path.
func network(dropPath: Double, normLastLayer: Bool) -> MultiCropWrapper {
  MultiCropWrapper(
    backbone: VisionTransformer(
      imageSize: imageSize, patch: patch, channels: training.channels, dim: dim, depth: depth,
      heads: heads, mlpRatio: 4, dropPath: dropPath),
    head: DINOHead(
      inDim: dim, outDim: outDim, hidden: hiddenDim, bottleneck: bottleneckDim, layers: 3,
      normLastLayer: normLastLayer))
}

Model("fashion_mnist_dino") { model in
  DINO(
    student: network(dropPath: dropPath, normLastLayer: normLastLayer),
    teacher: network(dropPath: 0, normLastLayer: true),
    loss: DINOLoss(outDim: outDim, studentTemp: studentTemp),
    training: training
  ).emit(into: model)
}
