// dino-dsl-version: 1
//
// A small residual MLP: the smallest complete model.swift.
//   dinoc compile Samples/mlp.swift -o mlp.plan.bin -D dim=64 -D depth=3
import DinoDSL

let batch = Option("batch", default: 8)
let dim = Option("dim", default: 32)
let hidden = Option("hidden", default: 64)
let depth = Option("depth", default: 2)
let classes = Option("classes", default: 10)

/// A pre-norm residual block: `x + mlp(norm(x))`.
final class Block: Layer {
  let norm: LayerNorm
  let mlp: MLP

  init(dim: Int, hidden: Int) {
    norm = LayerNorm(dim)
    mlp = MLP(dim, hidden, dim)
  }

  func forward(_ x: Tensor) -> Tensor {
    x + mlp(norm(x))
  }
}

/// Blocks, a final norm and a linear head.
final class ResidualMLP: Layer {
  let blocks: [Block]
  let norm: LayerNorm
  let head: Linear

  init(dim: Int, hidden: Int, depth: Int, classes: Int) {
    blocks = (0..<depth).map { _ in Block(dim: dim, hidden: hidden) }
    norm = LayerNorm(dim)
    head = Linear(dim, classes)
  }

  func forward(_ x: Tensor) -> Tensor {
    var x = x
    for block in blocks {
      x = block(x)
    }
    return head(norm(x))
  }
}

Model("mlp") { model in
  let net = model.register(
    ResidualMLP(dim: dim, hidden: hidden, depth: depth, classes: classes), as: "student")
  model.hyper["batch"] = Double(batch)

  model.program("forward") {
    let x = Input("x", [batch, dim])
    Output("y", net(x))
  }
}
