// dino-dsl-version: 1
//
// The linear probe of official DINO's eval_linear.py on frozen features: one linear layer
// (weight normal σ 0.01, bias zeros, as `LinearClassifier`) trained with softmax
// cross-entropy. `dino-run linear` runs it: @gradients (the compiler appends d loss /
// d probe.* as outputs grad.probe.weight and grad.probe.bias; no optimiser is lowered) and
// @logits; the SGD-momentum update and the cosine schedule are applied by dino-run.
//   dinoc compile Samples/linear_probe.swift -o probe.plan.bin -D features=96 -D classes=10
// `features` must be the backbone's dim (the DINO plan's `dim`), `classes` the number of
// class folders; `batch` is the probe's training batch (official: 128).
import DinoDSL

let features = Option("features", default: 192)
let classes = Option("classes", default: 10)
let batch = Option("batch", default: 128)

/// `nn.Linear(features, classes)` with official DINO's linear-probe init.
final class LinearClassifier: Layer {
  let weight = Parameter([classes, features], init: .normal(std: 0.01))
  let bias = Parameter([classes], init: .zeros)

  func forward(_ x: Tensor) -> Tensor { linear(x, weight.value, bias.value) }
}

Model("linear_probe") { model in
  let probe = model.register(LinearClassifier(), as: "probe")
  model.hyper["batch"] = Double(batch)

  // targets: one-hot rows (a padded batch scales its real rows by batch/count and gives
  // padding rows zeros, so the loss is the mean over the real rows).
  model.program("gradients") {
    let x = Input("features", [batch, features])
    let targets = Input("targets", [batch, classes])
    let logProbabilities = logSoftmax(probe(x))
    let total = sum(sum(targets * logProbabilities, axis: 1), axis: 0)
    Output("loss", total * (-1.0 / Double(batch)))
  }

  model.program("logits") {
    let x = Input("features", [batch, features])
    Output("logits", probe(x))
  }
}
