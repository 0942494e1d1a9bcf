/// The picture of `dino-run attention`: per image one row — the image, then one panel per
/// head with its CLS attention coloured by `Viridis` (each head scaled from its own minimum
/// to its maximum, as `plt.imsave` does) and upsampled to the panel by repeating each patch
/// (nearest, the official `scale_factor=patch`); with masks, a second row — the image with
/// the union of the heads' masks, then each head's mask — where the pixels inside the mask
/// are blended half-and-half with a colour (the official `display_instances`' `apply_mask`
/// with alpha 0.5; one fixed colour, viridis yellow, where official draws random ones).
public enum AttentionPicture {
  /// Pixels between panels.
  public static let gap = 4
  /// Pixels between the image and the first head.
  public static let groupGap = 16
  /// The colour blended into the pixels a mask keeps.
  public static let maskColor: [Double] = [253, 231, 36]
  /// The colour's weight in the blend (official `apply_mask` alpha).
  public static let maskAlpha = 0.5

  /// One image's row(s).
  public struct Row: Sendable {
    /// The image as decoded (any size, 1 or 3 channels).
    public var image: Image
    /// Per head, the attention over the gridSide² patches, row-major.
    public var maps: [[Float]]
    /// Per head, the patches its threshold mask keeps (`AttentionMask`), or nil.
    public var masks: [[Bool]]?

    /// Creates a row.
    public init(image: Image, maps: [[Float]], masks: [[Bool]]? = nil) {
      self.image = image
      self.maps = maps
      self.masks = masks
    }
  }

  /// What the model sees: `image` in the model's channels (colour to luma, grey
  /// replicated), resized to size × size (Pillow bicubic; the aspect ratio is not kept, as
  /// the official script's `Resize((s, s))`), scaled to [0, 1] and normalised, C×size×size.
  public static func modelInput(
    _ image: Image, size: Int, channels: Int, normalization: Normalization
  ) throws(DataError) -> [Float] {
    guard channels == 1 || channels == 3 else {
      throw DataError("channels = \(channels): the data pipeline supports 1 or 3")
    }
    let converted = image.channels == channels ? image : channels == 1 ? image.luma() : image.rgb()
    let resized =
      converted.width == size && converted.height == size
      ? converted : try converted.resized(width: size, height: size)
    var out = [Float](repeating: 0, count: channels * size * size)
    for c in 0..<channels {
      let mean = normalization.mean[c]
      let std = normalization.std[c]
      for i in 0..<(size * size) {
        out[c * size * size + i] = (Float(resized.pixels[i * channels + c]) / 255 - mean) / std
      }
    }
    return out
  }

  /// The largest panel side ≤ `requested` that is a whole multiple of `gridSide` (at least
  /// `gridSide`), so that every patch covers the same square of pixels.
  public static func panelSide(requested: Int, gridSide: Int) -> Int {
    max(gridSide, requested / gridSide * gridSide)
  }

  /// The picture (RGB) of `rows`, panels `panel` pixels square.
  /// - Parameters:
  ///   - gridSide: the patch grid's side; `panel` must be a multiple of it.
  /// - Throws: when the rows disagree on the number of heads or the map sizes.
  public static func compose(_ rows: [Row], gridSide: Int, panel: Int) throws(DataError) -> Image {
    guard let heads = rows.first?.maps.count, heads >= 1 else {
      throw DataError("attention picture: no images or no heads")
    }
    guard gridSide >= 1, panel >= gridSide, panel % gridSide == 0 else {
      throw DataError("attention picture: panel \(panel) is not a multiple of the grid \(gridSide)")
    }
    for row in rows {
      guard row.maps.count == heads, row.maps.allSatisfy({ $0.count == gridSide * gridSide }),
        row.masks.map({ $0.count == heads && $0.allSatisfy { $0.count == gridSide * gridSide } })
          ?? true
      else { throw DataError("attention picture: rows differ in heads or patches") }
    }
    let lines = rows.reduce(0) { $0 + ($1.masks == nil ? 1 : 2) }
    let width = gap + panel + groupGap + heads * (panel + gap)
    let height = gap + lines * (panel + gap)
    var canvas = Canvas(width: width, height: height)
    var y = gap
    for row in rows {
      let image = try row.image.rgb().resized(width: panel, height: panel)
      canvas.paste(image, x: gap, y: y)
      for (h, map) in row.maps.enumerated() {
        canvas.paste(heatmap(map, gridSide: gridSide, panel: panel), x: headX(h, panel), y: y)
      }
      y += panel + gap
      guard let masks = row.masks else { continue }
      let union = (0..<gridSide * gridSide).map { p in masks.contains { $0[p] } }
      canvas.paste(masked(image, union, gridSide: gridSide), x: gap, y: y)
      for (h, mask) in masks.enumerated() {
        canvas.paste(masked(image, mask, gridSide: gridSide), x: headX(h, panel), y: y)
      }
      y += panel + gap
    }
    return Image(width: width, height: height, channels: 3, pixels: canvas.pixels)
  }

  /// The left edge of head `h`'s panel for panels `panel` pixels wide.
  public static func headX(_ h: Int, _ panel: Int) -> Int {
    gap + panel + groupGap + h * (panel + gap)
  }

  /// One head's attention, min–max scaled, through viridis, each patch a square of pixels.
  static func heatmap(_ map: [Float], gridSide: Int, panel: Int) -> Image {
    let low = map.min() ?? 0
    let high = map.max() ?? 0
    let range = high - low
    let factor = panel / gridSide
    var pixels = [UInt8](repeating: 0, count: panel * panel * 3)
    for y in 0..<panel {
      for x in 0..<panel {
        let value = map[(y / factor) * gridSide + x / factor]
        let color = Viridis.color(range > 0 ? (value - low) / range : 0)
        let d = (y * panel + x) * 3
        pixels[d] = color.r
        pixels[d + 1] = color.g
        pixels[d + 2] = color.b
      }
    }
    return Image(width: panel, height: panel, channels: 3, pixels: pixels)
  }

  /// `image` (square, RGB) with the pixels of the patches in `mask` blended with
  /// `maskColor`: (1 − alpha)·pixel + alpha·colour.
  static func masked(_ image: Image, _ mask: [Bool], gridSide: Int) -> Image {
    let factor = image.width / gridSide
    var out = image
    for y in 0..<image.height {
      for x in 0..<image.width where mask[(y / factor) * gridSide + x / factor] {
        for c in 0..<3 {
          let i = (y * image.width + x) * 3 + c
          let blend = (1 - maskAlpha) * Double(image.pixels[i]) + maskAlpha * maskColor[c]
          out.pixels[i] = UInt8(blend.rounded())
        }
      }
    }
    return out
  }
}

/// An RGB canvas on the crop grid's dark background.
private struct Canvas {
  let width: Int
  let height: Int
  var pixels: [UInt8]

  init(width: Int, height: Int) {
    self.width = width
    self.height = height
    pixels = [UInt8](repeating: 40, count: width * height * 3)
  }

  /// Copies an RGB image with its top-left corner at (x, y).
  mutating func paste(_ image: Image, x: Int, y: Int) {
    for r in 0..<image.height {
      let dst = ((y + r) * width + x) * 3
      let src = r * image.width * 3
      for k in 0..<(image.width * 3) { pixels[dst + k] = image.pixels[src + k] }
    }
  }
}
