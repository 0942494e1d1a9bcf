import CDinoImage

extension Image {
  /// The image resized with Pillow's bicubic filter (antialiased when shrinking).
  public func resized(width: Int, height: Int) throws(DataError) -> Image {
    guard width >= 1, height >= 1, width <= 32768, height <= 32768 else {
      throw DataError("cannot resize to \(width)x\(height)")
    }
    var out = [UInt8](repeating: 0, count: width * height * channels)
    var scratch = dino_bytes()
    defer { dino_bytes_free(&scratch) }
    let rc = pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        dino_resize_bicubic(
          src.baseAddress, self.width * channels, 0, 0, Int32(self.width),
          Int32(self.height), Int32(channels), dst.baseAddress, Int32(width),
          Int32(height), &scratch)
      }
    }
    guard rc == 0 else { throw DataError("resize failed (code \(rc))") }
    return Image(width: width, height: height, channels: channels, pixels: out)
  }

  /// The image with each pixel repeated `factor` times in both directions.
  public func enlarged(by factor: Int) -> Image {
    guard factor > 1 else { return self }
    let w = width * factor
    let h = height * factor
    var out = [UInt8](repeating: 0, count: w * h * channels)
    for y in 0..<h {
      for x in 0..<w {
        let s = ((y / factor) * width + x / factor) * channels
        let d = (y * w + x) * channels
        for c in 0..<channels { out[d + c] = pixels[s + c] }
      }
    }
    return Image(width: w, height: h, channels: channels, pixels: out)
  }

  /// The image as 3 channels (grey replicated).
  public func rgb() -> Image {
    guard channels == 1 else { return self }
    var out = [UInt8](repeating: 0, count: width * height * 3)
    for i in 0..<(width * height) {
      out[3 * i] = pixels[i]
      out[3 * i + 1] = pixels[i]
      out[3 * i + 2] = pixels[i]
    }
    return Image(width: width, height: height, channels: 3, pixels: out)
  }
}

/// A picture of what the model sees: one row per image — the image itself, then its
/// global views, then its local views, each at its true resolution (all enlarged by the
/// same integer factor when the crops are small).
public struct CropGrid: Sendable {
  /// The grid (1 channel for a 1-channel recipe, else RGB).
  public let image: Image
  /// Images shown (rows).
  public let rows: Int
  /// The whole-number factor the crops were enlarged by.
  public let enlargement: Int
  /// Files passed over because they could not be decoded.
  public let skipped: [SkippedFile]

  /// Builds the grid for `count` images spread evenly over the folder, with the views the
  /// loader would produce in `epoch`. Undecodable files are passed over and listed.
  public init(folder: ImageFolder, config: MultiCropConfig, count: Int, epoch: Int = 0)
    throws(DataError)
  {
    try config.validate()
    guard count >= 1, count <= 256 else { throw DataError("--count must be in 1...256") }
    let augmenter = MultiCropAugmenter(config: config)
    let n = folder.count
    var rows: [[Image]] = []
    var skipped: [SkippedFile] = []
    var tried = Set<Int>()
    var decoder = Decoder()
    defer { decoder.free() }
    for i in 0..<min(count, n) {
      var index = i * n / min(count, n)
      var loaded: Image?
      while loaded == nil, tried.count < n {
        while tried.contains(index) { index = (index + 1) % n }
        tried.insert(index)
        if let problem = decoder.load(folder.paths[index], channels: config.channels == 1 ? 1 : 0) {
          skipped.append(SkippedFile(path: folder.relativePath(index), reason: problem))
        } else {
          loaded = decoder.image()
        }
      }
      guard let image = loaded else { break }
      var row: [Image] = [try Self.thumbnail(image, side: config.globalSize)]
      for v in 0..<config.viewCount {
        let p = augmenter.parameters(
          epoch: epoch, sample: index, view: v, width: image.width,
          height: image.height)
        row.append(try augmenter.render(image, parameters: p, preview: true).preview!)
      }
      rows.append(row)
    }
    guard !rows.isEmpty else {
      throw DataError("none of the image files under \(folder.root) could be decoded")
    }
    enlargement = Self.enlargement(config)
    image = Self.compose(rows, config: config, factor: enlargement)
    self.rows = rows.count
    self.skipped = skipped
  }

  /// Crops are enlarged so that global views are at least 112 pixels wide.
  static func enlargement(_ config: MultiCropConfig) -> Int {
    max(1, (112 + config.globalSize - 1) / config.globalSize)
  }

  /// The image scaled to fit a side × side square, aspect ratio kept.
  static func thumbnail(_ image: Image, side: Int) throws(DataError) -> Image {
    let scale = Double(side) / Double(max(image.width, image.height))
    let w = max(1, Int((Double(image.width) * scale).rounded()))
    let h = max(1, Int((Double(image.height) * scale).rounded()))
    return try image.resized(width: w, height: h)
  }

  /// Lays rows out on a dark background: 4-pixel gaps, 16-pixel gaps between the image,
  /// the global views and the local views.
  static func compose(_ rows: [[Image]], config: MultiCropConfig, factor: Int) -> Image {
    let g = config.globalSize * factor
    let l = config.localSize * factor
    let gap = 4
    let group = 16
    let channels = config.channels
    let rowWidth = gap + g + group + 2 * (g + gap) + group + config.localCrops * (l + gap)
    let width = rowWidth
    let height = gap + rows.count * (g + gap)
    var canvas = [UInt8](repeating: 40, count: width * height * channels)
    func paste(_ image: Image, x: Int, y: Int) {
      let img = (image.channels == channels ? image : channels == 3 ? image.rgb() : image.luma())
        .enlarged(by: factor)
      for r in 0..<img.height {
        let dst = ((y + r) * width + x) * channels
        let src = r * img.width * channels
        for k in 0..<(img.width * channels) { canvas[dst + k] = img.pixels[src + k] }
      }
    }
    for (i, row) in rows.enumerated() {
      let y = gap + i * (g + gap)
      var x = gap
      paste(row[0], x: x, y: y)
      x += g + group
      for v in 0..<2 {
        paste(row[1 + v], x: x, y: y)
        x += g + gap
      }
      x += group
      for v in 2..<config.viewCount {
        paste(row[1 + v], x: x, y: y)
        x += l + gap
      }
    }
    return Image(width: width, height: height, channels: channels, pixels: canvas)
  }
}
