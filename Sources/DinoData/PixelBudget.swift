import CDinoImage

/// The most pixels (width × height) any decoder accepts, process-wide. Every JPEG and PNG
/// decoder checks the header's size against it before allocating pixel memory; a larger
/// image is skipped like an undecodable one ("… pixels, above the budget of …").
public enum PixelBudget {
  /// The default: 64 Mi pixels (8192 × 8192), 192 MiB of RGB.
  public static let defaultMaxPixels = 64 * 1024 * 1024  // DINO_IMG_DEFAULT_MAX_PIXELS
  /// The largest budget that can be set: the decoders' side limit squared.
  public static let limit = Int(DINO_IMG_MAX_SIDE) * Int(DINO_IMG_MAX_SIDE)

  /// The budget in force.
  public static var maxPixels: Int { Int(dino_max_pixels()) }

  /// Sets the budget (1...`limit`) for every later decode.
  /// - Throws: `DataError` naming `option` for a value outside 1...`limit`.
  public static func set(_ pixels: Int, option: String = "--max-pixels") throws(DataError) {
    guard pixels >= 1, pixels <= limit else {
      throw DataError("\(option) \(pixels) is outside 1...\(limit): give a pixel count")
    }
    dino_set_max_pixels(pixels)
  }
}
