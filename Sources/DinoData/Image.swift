import CDinoImage

/// An 8-bit image, rows of height × width × channels (HWC), channels 1 (grey) or 3 (RGB).
public struct Image: Sendable, Equatable {
  /// Width in pixels.
  public var width: Int
  /// Height in pixels.
  public var height: Int
  /// 1 or 3.
  public var channels: Int
  /// `height * width * channels` bytes, row-major, channels interleaved.
  public var pixels: [UInt8]

  /// Wraps pixel data; `pixels.count` must be `width * height * channels`.
  public init(width: Int, height: Int, channels: Int, pixels: [UInt8]) {
    precondition(channels == 1 || channels == 3, "channels must be 1 or 3")
    precondition(pixels.count == width * height * channels, "pixel count mismatch")
    self.width = width
    self.height = height
    self.channels = channels
    self.pixels = pixels
  }

  /// Decodes a JPEG or PNG file. `channels` 1 converts colour to luma (ITU-R 601-2, as
  /// Pillow's "L"); `nil` or 3 keep the file's own channels (grey stays 1 channel).
  public init(contentsOf path: String, channels: Int? = nil) throws(DataError) {
    var decoder = Decoder()
    defer { decoder.free() }
    if let problem = decoder.load(path, channels: channels ?? 0) {
      throw DataError("\(path): \(problem)")
    }
    self = decoder.image()
  }

  /// Decodes JPEG or PNG bytes held in memory.
  public init(decoding bytes: [UInt8], channels: Int? = nil) throws(DataError) {
    var img = dino_image()
    defer { dino_image_free(&img) }
    var err = [CChar](repeating: 0, count: 256)
    let rc = bytes.withUnsafeBufferPointer {
      dino_decode($0.baseAddress, $0.count, Int32(channels ?? 0), &img, &err, err.count)
    }
    if rc != 0 { throw DataError(message(err)) }
    self = Image(copying: img)
  }

  init(copying img: dino_image) {
    let count = Int(img.width) * Int(img.height) * Int(img.channels)
    self.init(
      width: Int(img.width), height: Int(img.height), channels: Int(img.channels),
      pixels: Array(UnsafeBufferPointer(start: img.pixels.data, count: count)))
  }

  /// Writes the image as an 8-bit PNG.
  public func writePNG(to path: String) throws(DataError) {
    var err = [CChar](repeating: 0, count: 256)
    let rc = pixels.withUnsafeBufferPointer {
      dino_write_png(
        path, $0.baseAddress, Int32(width), Int32(height), Int32(channels), &err,
        err.count)
    }
    if rc != 0 { throw DataError("\(path): \(message(err))") }
  }

  /// Writes the image as a baseline JPEG at `quality` (1...100).
  public func writeJPEG(to path: String, quality: Int = 90) throws(DataError) {
    var err = [CChar](repeating: 0, count: 256)
    let rc = pixels.withUnsafeBufferPointer {
      dino_write_jpeg(
        path, $0.baseAddress, Int32(width), Int32(height), Int32(channels),
        Int32(quality), &err, err.count)
    }
    if rc != 0 { throw DataError("\(path): \(message(err))") }
  }

  /// Runs `body` with a borrowed C view of the pixels (valid only inside `body`).
  func withCImage<R>(_ body: (UnsafePointer<dino_image>) throws -> R) rethrows -> R {
    try pixels.withUnsafeBufferPointer { buffer in
      var img = dino_image()
      img.width = Int32(width)
      img.height = Int32(height)
      img.channels = Int32(channels)
      img.pixels.data = UnsafeMutablePointer(mutating: buffer.baseAddress)
      img.pixels.size = buffer.count
      img.pixels.capacity = buffer.count
      return try withUnsafePointer(to: &img) { try body($0) }
    }
  }
}

/// Reusable file and pixel buffers for decoding many files on one thread.
struct Decoder {
  var file = dino_bytes()
  var decoded = dino_image()

  /// Reads and decodes `path`; returns nil on success, else the reason.
  mutating func load(_ path: String, channels: Int) -> String? {
    var err = [CChar](repeating: 0, count: 256)
    if dino_read_file(path, &file, &err, err.count) != 0 { return message(err) }
    if dino_decode(file.data, file.size, Int32(channels), &decoded, &err, err.count) != 0 {
      return message(err)
    }
    return nil
  }

  /// A copy of the last decoded image.
  func image() -> Image { Image(copying: decoded) }

  mutating func free() {
    dino_bytes_free(&file)
    dino_image_free(&decoded)
  }
}

/// The NUL-terminated text in a C error buffer.
func message(_ buffer: [CChar]) -> String {
  String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
}
