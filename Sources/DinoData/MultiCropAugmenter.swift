import CDinoImage
import Foundation

/// DINO's multi-crop augmentation (DataAugmentationDINO, docs/DINO.md §1).
///
/// Views are [global 1, global 2, local 1 … local L]. Each view is made from the decoded
/// image by RandomResizedCrop (bicubic), flip (p 0.5), ColorJitter(0.4, 0.4, 0.2, 0.1) in a
/// random order (p 0.8), RandomGrayscale (p 0.2), GaussianBlur (p 1.0 / 0.1 / 0.5,
/// σ ∈ [0.1, 2]), Solarization (p 0.2, global view 2 only), then normalisation.
///
/// Randomness: draw `n` of a view is `ViewDraws(seed, epoch, sample, view).uniform(n)`:
///
/// | draws | use |
/// | --- | --- |
/// | 0–19 | RandomResizedCrop attempt t: 2t area fraction, 2t+1 log aspect ratio |
/// | 20, 21 | crop top, crop left |
/// | 22 | flip (fires when u < 0.5) |
/// | 23 | jitter (fires when u ≤ 0.8) |
/// | 24–26 | jitter order (Fisher–Yates over 4) |
/// | 27–30 | brightness, contrast, saturation, hue factors |
/// | 31 | grayscale (u < 0.2) |
/// | 32, 33 | blur (u ≤ p), σ |
/// | 34 | solarize (u < 0.2) |
///
/// Single-channel images skip saturation and hue (identities for a grey image in Pillow);
/// an RGB image feeding a 1-channel model is converted to luma when decoded, so its colour
/// operations reduce to brightness and contrast — the documented departure.
public struct MultiCropAugmenter: Sendable {
  /// The recipe.
  public let config: MultiCropConfig

  /// Creates an augmenter.
  public init(config: MultiCropConfig) { self.config = config }

  /// Draw numbers (see the type's documentation).
  enum Draw {
    static let cropTop = 20, cropLeft = 21, flip = 22, jitter = 23, order = 24
    static let brightness = 27, contrast = 28, saturation = 29, hue = 30
    static let grayscale = 31, blur = 32, sigma = 33, solarize = 34
  }

  /// torchvision's RandomResizedCrop.get_params: 10 attempts of (area fraction
  /// U(scale), aspect exp(U(log ratio))), w = round(√(area·aspect)), h = round(√(area/aspect))
  /// (ties to even), accepted when 0 < w ≤ width and 0 < h ≤ height, then a uniform
  /// position; otherwise the centred fallback crop clamped to the ratio range.
  public static func randomResizedCrop(
    width: Int, height: Int, scale: ClosedRange<Double>, ratio: ClosedRange<Double>,
    draws: ViewDraws
  ) -> CropBox {
    let area = Double(width * height)
    let logLo = log(ratio.lowerBound)
    let logHi = log(ratio.upperBound)
    for attempt in 0..<10 {
      let target = area * draws.uniform(2 * attempt, scale.lowerBound, scale.upperBound)
      let aspect = exp(draws.uniform(2 * attempt + 1, logLo, logHi))
      let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
      let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
      if w > 0, w <= width, h > 0, h <= height {
        let top = draws.below(height - h + 1, Draw.cropTop)
        let left = draws.below(width - w + 1, Draw.cropLeft)
        return CropBox(x: left, y: top, width: w, height: h)
      }
    }
    let inRatio = Double(width) / Double(height)
    var w = width
    var h = height
    if inRatio < ratio.lowerBound {
      h = Int((Double(w) / ratio.lowerBound).rounded(.toNearestOrEven))
    } else if inRatio > ratio.upperBound {
      w = Int((Double(h) * ratio.upperBound).rounded(.toNearestOrEven))
    }
    return CropBox(x: (width - w) / 2, y: (height - h) / 2, width: w, height: h)
  }

  /// All random decisions of view `view` of dataset sample `sample` in `epoch`, for an
  /// image of the given size.
  public func parameters(epoch: Int, sample: Int, view: Int, width: Int, height: Int)
    -> ViewParameters
  {
    let c = config
    let draws = ViewDraws(seed: c.seed, epoch: epoch, sample: sample, view: view)
    let global = view < 2
    let crop = Self.randomResizedCrop(
      width: width, height: height, scale: global ? c.globalScale : c.localScale,
      ratio: c.ratio, draws: draws)
    var p = ViewParameters(crop: crop, size: c.size(ofView: view))
    p.flip = draws.uniform(Draw.flip) < c.flipProbability
    if draws.uniform(Draw.jitter) <= c.jitterProbability {
      var order = JitterOperation.allCases
      for i in stride(from: 3, to: 0, by: -1) {
        order.swapAt(i, draws.below(i + 1, Draw.order + 3 - i))
      }
      let strengths: [JitterOperation: Double] = [
        .brightness: c.brightness, .contrast: c.contrast, .saturation: c.saturation,
        .hue: c.hue,
      ]
      func factor(_ n: Int, _ s: Double) -> Float {
        Float(draws.uniform(n, max(0, 1 - s), 1 + s))
      }
      p.jitter = ColorJitter(
        order: order.filter { strengths[$0]! > 0 },
        brightness: factor(Draw.brightness, c.brightness),
        contrast: factor(Draw.contrast, c.contrast),
        saturation: factor(Draw.saturation, c.saturation),
        hue: Float(draws.uniform(Draw.hue, -c.hue, c.hue)))
    }
    p.grayscale = draws.uniform(Draw.grayscale) < c.grayscaleProbability
    let blurP =
      view == 0
      ? c.blurProbabilities.global1
      : view == 1 ? c.blurProbabilities.global2 : c.blurProbabilities.local
    if draws.uniform(Draw.blur) <= blurP {
      p.blurSigma = Float(draws.uniform(Draw.sigma, c.blurSigma.lowerBound, c.blurSigma.upperBound))
    }
    p.solarize = view == 1 && draws.uniform(Draw.solarize) < c.solarizeProbability
    return p
  }

  /// Renders one view of `image` as channels × size × size floats (normalised), and
  /// optionally the uint8 view before normalisation.
  public func render(_ image: Image, parameters: ViewParameters, preview: Bool = false)
    throws(DataError) -> (tensor: [Float], preview: Image?)
  {
    let workspace = ViewWorkspace()
    let c = config.channels
    let n = parameters.size * parameters.size
    var tensor = [Float](repeating: 0, count: c * n)
    var pixels = [UInt8](repeating: 0, count: preview ? c * n : 0)
    let src = image.channels == 3 && c == 1 ? image.luma() : image
    let rc = src.withCImage { img in
      tensor.withUnsafeMutableBufferPointer { out in
        pixels.withUnsafeMutableBufferPointer { pv in
          workspace.render(
            img, parameters, config: config, into: out.baseAddress!,
            preview: preview ? pv.baseAddress : nil)
        }
      }
    }
    guard rc == 0 else { throw DataError("cannot render view (code \(rc)) of \(parameters)") }
    let shown =
      preview
      ? Image(width: parameters.size, height: parameters.size, channels: c, pixels: pixels) : nil
    return (tensor, shown)
  }

  /// Renders every view of `image` as sample `sample` of `epoch` (globals first).
  public func views(of image: Image, epoch: Int, sample: Int) throws(DataError) -> [[Float]] {
    var result: [[Float]] = []
    for v in 0..<config.viewCount {
      let p = parameters(
        epoch: epoch, sample: sample, view: v, width: image.width,
        height: image.height)
      result.append(try render(image, parameters: p).tensor)
    }
    return result
  }
}

extension Image {
  /// The image converted to Pillow "L" luma (a grey image is returned unchanged).
  public func luma() -> Image {
    guard channels == 3 else { return self }
    var out = [UInt8](repeating: 0, count: width * height)
    pixels.withUnsafeBufferPointer { src in
      out.withUnsafeMutableBufferPointer { dst in
        dino_rgb_to_luma(src.baseAddress, dst.baseAddress, width * height)
      }
    }
    return Image(width: width, height: height, channels: 1, pixels: out)
  }
}

/// Per-thread reusable memory for rendering views.
final class ViewWorkspace {
  var ws = dino_workspace()

  deinit { dino_workspace_free(&ws) }

  /// Renders into `out` (config.channels × size²); returns the C result code.
  func render(
    _ img: UnsafePointer<dino_image>, _ p: ViewParameters, config: MultiCropConfig,
    into out: UnsafeMutablePointer<Float>, preview: UnsafeMutablePointer<UInt8>?
  ) -> Int32 {
    var cp = p.cParams
    let norm = config.normalization
    return norm.mean.withUnsafeBufferPointer { mean in
      norm.std.withUnsafeBufferPointer { std in
        dino_render_view(
          img, &cp, Int32(config.channels), mean.baseAddress, std.baseAddress,
          out, preview, &ws)
      }
    }
  }
}
