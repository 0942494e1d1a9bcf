import DinoOps

/// Official DINO's `MultiCropWrapper`: a backbone and a head, applied to a list of views.
///
/// Consecutive views of equal width (the last dimension, as the official
/// `unique_consecutive` over `shape[-1]`) form one resolution group: the group's views are
/// concatenated along the batch and go through the backbone in one pass. The CLS outputs of
/// all groups are concatenated in order and go through the head once, so the result's rows
/// are view-major: rows `[v·B, (v+1)·B)` belong to view `v`.
///
/// Parameters: `backbone.*` and `head.*`.
public final class MultiCropWrapper: Module {
  /// The feature extractor.
  public let backbone: VisionTransformer
  /// The projection head.
  public let head: DINOHead

  /// Wraps a backbone and a head.
  /// - Parameters:
  ///   - backbone: the ViT.
  ///   - head: the DINO head; its `inDim` must be the backbone's `dim`.
  public init(
    backbone: VisionTransformer, head: DINOHead,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) {
    if head.inDim >= 1 && head.inDim != backbone.dim {
      session.error(
        "MultiCropWrapper: the head takes \(head.inDim) features but the backbone gives \(backbone.dim)",
        at: session.userLoc(file, line, column))
    }
    self.backbone = backbone
    self.head = head
  }

  /// The resolution groups of views with these shapes: ranges of consecutive views of equal
  /// width.
  /// - Parameters:
  ///   - shapes: the views' shapes.
  /// - Returns: one index range per group, in order.
  public static func groups(of shapes: [[Int]]) -> [Range<Int>] {
    var groups: [Range<Int>] = []
    var start = 0
    for i in shapes.indices where i > 0 && shapes[i].last != shapes[i - 1].last {
      groups.append(start..<i)
      start = i
    }
    if !shapes.isEmpty { groups.append(start..<shapes.count) }
    return groups
  }

  /// How many `drop_path_mask` streams one call on views of these shapes uses.
  /// - Parameters:
  ///   - shapes: the views' shapes.
  /// - Returns: `groups × 2 × depth`.
  public func streamCount(for shapes: [[Int]]) -> Int {
    Self.groups(of: shapes).count * backbone.streamCount
  }

  /// Head outputs `[V·B, outDim]` of the views, view-major.
  /// - Parameters:
  ///   - views: `V` image batches `[B, C, H, W]`.
  ///   - seed: the step's `i32[]` seed for stochastic depth, or `nil` for none.
  ///   - stream: the first mask stream; resolution group `g` uses the backbone streams from
  ///     `stream + g · backbone.streamCount`.
  /// - Returns: the logits.
  public func callAsFunction(
    _ views: [Tensor], seed: Tensor? = nil, stream: Int = 0,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) {
      head(backboneOutputs(views, seed: seed, stream: stream))
    }
  }

  /// The backbone's CLS outputs `[V·B, dim]` of the views, view-major (the head's input).
  /// - Parameters:
  ///   - views: `V` image batches `[B, C, H, W]`.
  ///   - seed: the step's `i32[]` seed for stochastic depth, or `nil` for none.
  ///   - stream: the first mask stream (see `callAsFunction`).
  /// - Returns: the concatenated CLS outputs.
  public func features(
    _ views: [Tensor], seed: Tensor? = nil, stream: Int = 0,
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> Tensor {
    scoped(file: file, line: line, column: column) {
      backboneOutputs(views, seed: seed, stream: stream)
    }
  }

  private func backboneOutputs(_ views: [Tensor], seed: Tensor?, stream: Int) -> Tensor {
    let loc = session.scopes.last?.loc ?? .unknown
    guard !views.isEmpty else {
      session.error("MultiCropWrapper: needs at least one view", at: loc)
      return session.invalid([1, backbone.dim], at: loc)
    }
    var outputs: [Tensor] = []
    for (g, group) in Self.groups(of: views.map(\.shape)).enumerated() {
      let members = Array(views[group])
      if let odd = members.first(where: { $0.shape != members[0].shape }) {
        if odd.isValid && members[0].isValid {
          session.error(
            "MultiCropWrapper: views of width \(members[0].shape.last ?? 0) form one batch but have shapes \(shapeText(members[0].shape)) and \(shapeText(odd.shape))",
            at: loc)
        }
        outputs.append(
          session.invalid(
            [members.reduce(0) { $0 + ($1.shape.first ?? 1) }, backbone.dim], at: loc))
        continue
      }
      let batch = members.count == 1 ? members[0] : concat(members, axis: 0)
      outputs.append(backbone(batch, seed: seed, stream: stream + g * backbone.streamCount))
    }
    return outputs.count == 1 ? outputs[0] : concat(outputs, axis: 0)
  }
}
