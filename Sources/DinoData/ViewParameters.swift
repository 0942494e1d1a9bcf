import CDinoImage

/// A crop rectangle in source pixels.
public struct CropBox: Sendable, Equatable, Hashable {
  /// Left column.
  public var x: Int
  /// Top row.
  public var y: Int
  /// Width in pixels.
  public var width: Int
  /// Height in pixels.
  public var height: Int

  /// Creates a box.
  public init(x: Int, y: Int, width: Int, height: Int) {
    self.x = x
    self.y = y
    self.width = width
    self.height = height
  }
}

/// The four ColorJitter operations, numbered as torchvision does.
public enum JitterOperation: Int, Sendable, CaseIterable {
  /// Blend with black.
  case brightness = 0
  /// Blend with the mean grey.
  case contrast = 1
  /// Blend with the image's luma.
  case saturation = 2
  /// Rotate the HSV hue.
  case hue = 3
}

/// One ColorJitter application: the operations in their drawn order, and the factors.
public struct ColorJitter: Sendable, Equatable {
  /// Operations in application order (a permutation; strengths of 0 are left out).
  public var order: [JitterOperation]
  /// Brightness factor.
  public var brightness: Float
  /// Contrast factor.
  public var contrast: Float
  /// Saturation factor.
  public var saturation: Float
  /// Hue shift in [-0.5, 0.5] of the hue circle.
  public var hue: Float

  /// Creates a jitter.
  public init(
    order: [JitterOperation], brightness: Float, contrast: Float, saturation: Float, hue: Float
  ) {
    self.order = order
    self.brightness = brightness
    self.contrast = contrast
    self.saturation = saturation
    self.hue = hue
  }
}

/// Every random decision of one view, drawn by `MultiCropAugmenter.parameters`.
public struct ViewParameters: Sendable, Equatable {
  /// The RandomResizedCrop box.
  public var crop: CropBox
  /// Output side.
  public var size: Int
  /// Horizontal flip.
  public var flip: Bool
  /// Colour jitter, if it fired.
  public var jitter: ColorJitter?
  /// RandomGrayscale fired.
  public var grayscale: Bool
  /// Gaussian blur σ, if the blur fired.
  public var blurSigma: Float?
  /// Solarization fired.
  public var solarize: Bool

  /// Creates parameters.
  public init(
    crop: CropBox, size: Int, flip: Bool = false, jitter: ColorJitter? = nil,
    grayscale: Bool = false, blurSigma: Float? = nil, solarize: Bool = false
  ) {
    self.crop = crop
    self.size = size
    self.flip = flip
    self.jitter = jitter
    self.grayscale = grayscale
    self.blurSigma = blurSigma
    self.solarize = solarize
  }

  /// The C form.
  var cParams: dino_view_params {
    var p = dino_view_params()
    p.crop_x = Int32(crop.x)
    p.crop_y = Int32(crop.y)
    p.crop_w = Int32(crop.width)
    p.crop_h = Int32(crop.height)
    p.size = Int32(size)
    p.flip = flip ? 1 : 0
    if let jitter {
      p.jitter = 1
      // Operations left out (strength 0) are padded with DINO_JITTER_NONE (skip).
      var order = jitter.order.map { Int32($0.rawValue) }
      p.brightness = jitter.brightness
      p.contrast = jitter.contrast
      p.saturation = jitter.saturation
      p.hue = jitter.hue
      while order.count < 4 { order.append(-1) }
      p.jitter_order = (order[0], order[1], order[2], order[3])
    }
    p.grayscale = grayscale ? 1 : 0
    if let blurSigma {
      p.blur = 1
      p.sigma = blurSigma
    }
    p.solarize = solarize ? 1 : 0
    return p
  }
}
