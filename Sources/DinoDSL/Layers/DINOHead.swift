/// A bias-free linear layer under weight normalisation (`torch.nn.utils.weight_norm`, dim 0):
/// `y = x · Wᵀ` with row `k` of `W` equal to `g_k · v_k / ‖v_k‖`.
///
/// Parameters: `weight_g [out, 1]` (ones) and `weight_v [out, in]` (uniform `±1/√in`,
/// PyTorch's default Linear init, which DINO's head keeps for its last layer).
public final class WeightNormLinear: Layer {
  /// The row magnitudes `g`, `[out, 1]`.
  public let weightG: Parameter
  /// The row directions `v`, `[out, in]`.
  public let weightV: Parameter

  /// State-dict names: `weight_g`, `weight_v`.
  public var parameterKeys: [String: String] { ["weightG": "weight_g", "weightV": "weight_v"] }

  /// Creates the layer.
  /// - Parameters:
  ///   - inFeatures: the input's last dimension.
  ///   - outFeatures: the output's last dimension.
  ///   - trainableMagnitude: whether `weight_g` is trained (DINO: `!norm_last_layer`).
  public init(
    _ inFeatures: Int, _ outFeatures: Int, trainableMagnitude: Bool,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    let bound = 1 / Double(max(inFeatures, 1)).squareRoot()
    weightG = Parameter(
      [outFeatures, 1], init: .ones, trainable: trainableMagnitude,
      file: file, line: line, column: column)
    weightV = Parameter(
      [outFeatures, inFeatures], init: .uniform(-bound, bound),
      file: file, line: line, column: column)
  }

  /// `x · Wᵀ` for `x [..., in]`.
  public func forward(_ x: Tensor) -> Tensor {
    let g = weightG.value  // state-dict order: weight_g, then weight_v
    return linear(x, weightNorm(weightV.value, g))
  }
}

/// Official DINO's projection head `DINOHead` (without batch norm): an MLP of `layers` Linears
/// with GELU between them (`in → hidden → … → bottleneck`, no activation after the last),
/// L2 normalisation (eps 1e-12), then a weight-normalised bias-free `bottleneck → out` layer.
///
/// Parameters: `mlp.0`, `mlp.2`, `mlp.4`, … (the `nn.Sequential` indices skip the GELUs;
/// with one layer it is `mlp` itself), truncated normal σ 0.02 weights and zero biases;
/// `last_layer.weight_g [out, 1]` (ones, trainable only without `normLastLayer`) and
/// `last_layer.weight_v [out, bottleneck]`.
public final class DINOHead: Layer {
  /// The MLP's Linears, in order.
  public let layers: [Linear]
  /// The weight-normalised prototypes.
  public let lastLayer: WeightNormLinear
  /// Input features.
  public let inDim: Int
  /// Output dimension `K`.
  public let outDim: Int
  /// Hidden width.
  public let hidden: Int
  /// Bottleneck width.
  public let bottleneck: Int
  /// Whether `weight_g` stays fixed at 1.
  public let normLastLayer: Bool

  /// State-dict names: `mlp.0`, `mlp.2`, … (or `mlp`), `last_layer`.
  public var parameterKeys: [String: String] {
    var keys = ["lastLayer": "last_layer"]
    if layers.count == 1 {
      keys["layers.0"] = "mlp"
    } else {
      for i in layers.indices { keys["layers.\(i)"] = "mlp.\(2 * i)" }
    }
    return keys
  }

  /// Creates the head.
  /// - Parameters:
  ///   - inDim: the backbone's output features.
  ///   - outDim: the number of prototypes `K` (DINO: 65536).
  ///   - hidden: hidden width (DINO: 2048).
  ///   - bottleneck: bottleneck width (DINO: 256).
  ///   - layers: number of Linears in the MLP (DINO: 3; values below 1 mean 1).
  ///   - normLastLayer: keep `weight_g` at 1 (not trained), as DINO's default.
  public init(
    inDim: Int, outDim: Int, hidden: Int = 2048, bottleneck: Int = 256, layers: Int = 3,
    normLastLayer: Bool = true,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    let loc = session.userLoc(file, line, column)
    for (name, value) in [
      ("inDim", inDim), ("outDim", outDim), ("hidden", hidden), ("bottleneck", bottleneck),
    ] where value < 1 {
      session.error("DINOHead: \(name) must be positive, got \(value)", at: loc)
    }
    let count = max(layers, 1)
    let (first, middle, last) = (max(inDim, 1), max(hidden, 1), max(bottleneck, 1))
    let widths =
      count == 1 ? [first, last] : [first] + Array(repeating: middle, count: count - 1) + [last]
    self.layers = (0..<count).map { i in
      Linear(widths[i], widths[i + 1], file: file, line: line, column: column)
    }
    lastLayer = WeightNormLinear(
      last, max(outDim, 1), trainableMagnitude: !normLastLayer, file: file, line: line,
      column: column
    )
    self.inDim = inDim
    self.outDim = outDim
    self.hidden = hidden
    self.bottleneck = bottleneck
    self.normLastLayer = normLastLayer
  }

  /// Logits `[..., outDim]` of features `x [..., inDim]`.
  public func forward(_ x: Tensor) -> Tensor {
    var x = x
    for (i, layer) in layers.enumerated() {
      x = layer(x)
      if i < layers.count - 1 { x = gelu(x) }
    }
    return lastLayer(l2Normalize(x, eps: 1e-12))
  }
}
