/// Mean and standard deviation per channel for `ToTensor + Normalize`.
public struct Normalization: Sendable, Equatable {
  /// Per-channel mean of the [0, 1] pixel values.
  public var mean: [Float]
  /// Per-channel standard deviation.
  public var std: [Float]

  /// Creates a normalisation; both arrays have one entry per channel.
  public init(mean: [Float], std: [Float]) {
    self.mean = mean
    self.std = std
  }

  /// ImageNet's statistics (the reference's `Normalize`).
  public static let imageNet = Normalization(
    mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225])

  /// The single-channel choice of this project: ImageNet's statistics weighted by the
  /// ITU-R 601-2 luma coefficients (0.299, 0.587, 0.114), i.e. what luma pixels of
  /// ImageNet-like photos would have. Used for every 1-channel model.
  public static let luma = Normalization(mean: [0.4590], std: [0.2256])

  /// The default for a channel count (1 → `luma`, 3 → `imageNet`).
  public static func standard(channels: Int) -> Normalization {
    channels == 1 ? .luma : .imageNet
  }
}

/// The multi-crop recipe (docs/DINO.md §1). Defaults are the official ones; the plan's
/// hyper-parameters (set by model.swift) override geometry, crop counts, batch and seed.
public struct MultiCropConfig: Sendable, Equatable {
  /// Output size of the two global views.
  public var globalSize = 224
  /// Output size of the local views.
  public var localSize = 96
  /// Number of local views.
  public var localCrops = 8
  /// Channels the model takes (1 or 3).
  public var channels = 3
  /// RandomResizedCrop area fraction of the global views.
  public var globalScale: ClosedRange<Double> = 0.4...1.0
  /// RandomResizedCrop area fraction of the local views.
  public var localScale: ClosedRange<Double> = 0.05...0.4
  /// RandomResizedCrop aspect-ratio range (sampled log-uniformly).
  public var ratio: ClosedRange<Double> = (3.0 / 4.0)...(4.0 / 3.0)
  /// Images per batch (per process).
  public var batchSize = 64
  /// The run's seed.
  public var seed: UInt64 = 0
  /// RandomHorizontalFlip probability.
  public var flipProbability = 0.5
  /// RandomApply(ColorJitter) probability.
  public var jitterProbability = 0.8
  /// ColorJitter strengths: factors are drawn from [1-s, 1+s] (hue: [-s, s]).
  public var brightness = 0.4
  /// See `brightness`.
  public var contrast = 0.4
  /// See `brightness`.
  public var saturation = 0.2
  /// Maximum hue shift, as a fraction of the hue circle.
  public var hue = 0.1
  /// RandomGrayscale probability.
  public var grayscaleProbability = 0.2
  /// GaussianBlur probability of global view 1, global view 2, and each local view.
  public var blurProbabilities = (global1: 1.0, global2: 0.1, local: 0.5)
  /// Range of the blur's standard deviation.
  public var blurSigma: ClosedRange<Double> = 0.1...2.0
  /// Solarization probability (global view 2 only).
  public var solarizeProbability = 0.2
  /// Normalisation; nil means `Normalization.standard(channels:)`.
  public var customNormalization: Normalization?

  /// The official recipe (2×224 + 8×96, RGB, batch 64, seed 0).
  public init() {}

  /// Reads the data hyper-parameters of a plan (IR/CONTRACT.md keys): `batch`, `channels`,
  /// `global_size`, `local_size`, `local_crops`, `global_scale_min`, `global_scale_max`,
  /// `local_scale_min`, `local_scale_max`, `blur_sigma_min`, `blur_sigma_max`, `seed`. Missing
  /// keys keep the defaults.
  public init(hyper: [String: Double]) throws(DataError) {
    func integer(_ key: String, _ fallback: Int, min: Int) throws(DataError) -> Int {
      guard let value = hyper[key] else { return fallback }
      guard value.isFinite, value == value.rounded(), value >= Double(min), value < 1e9 else {
        throw DataError("hyper-parameter \(key) = \(value) must be an integer ≥ \(min)")
      }
      return Int(value)
    }
    func fraction(_ key: String, _ fallback: Double) throws(DataError) -> Double {
      guard let value = hyper[key] else { return fallback }
      guard value.isFinite, value > 0, value <= 1 else {
        throw DataError("hyper-parameter \(key) = \(value) must be in (0, 1]")
      }
      return value
    }
    func sigma(_ key: String, _ fallback: Double) throws(DataError) -> Double {
      guard let value = hyper[key] else { return fallback }
      guard value.isFinite, value > 0, value <= 1000 else {
        throw DataError("hyper-parameter \(key) = \(value) must be in (0, 1000] pixels")
      }
      return value
    }
    batchSize = try integer("batch", batchSize, min: 1)
    channels = try integer("channels", channels, min: 1)
    globalSize = try integer("global_size", globalSize, min: 1)
    localSize = try integer("local_size", localSize, min: 1)
    localCrops = try integer("local_crops", localCrops, min: 0)
    seed = UInt64(try integer("seed", Int(seed), min: 0))
    let gmin = try fraction("global_scale_min", globalScale.lowerBound)
    let gmax = try fraction("global_scale_max", globalScale.upperBound)
    let lmin = try fraction("local_scale_min", localScale.lowerBound)
    let lmax = try fraction("local_scale_max", localScale.upperBound)
    guard gmin <= gmax else {
      throw DataError("global_scale_min \(gmin) is larger than global_scale_max \(gmax)")
    }
    guard lmin <= lmax else {
      throw DataError("local_scale_min \(lmin) is larger than local_scale_max \(lmax)")
    }
    globalScale = gmin...gmax
    localScale = lmin...lmax
    let smin = try sigma("blur_sigma_min", blurSigma.lowerBound)
    let smax = try sigma("blur_sigma_max", blurSigma.upperBound)
    guard smin <= smax else {
      throw DataError("blur_sigma_min \(smin) is larger than blur_sigma_max \(smax)")
    }
    blurSigma = smin...smax
    try validate()
  }

  /// Checks the invariants the loaders rely on.
  public func validate() throws(DataError) {
    guard channels == 1 || channels == 3 else {
      throw DataError("channels = \(channels): the data pipeline supports 1 or 3")
    }
    guard globalSize >= 1, localSize >= 1, localCrops >= 0, batchSize >= 1 else {
      throw DataError("crop sizes and batch must be positive and local_crops non-negative")
    }
    guard globalSize <= 4096, localSize <= 4096, localCrops <= 64 else {
      throw DataError("crop sizes above 4096 or more than 64 local crops are not supported")
    }
    let norm = normalization
    guard norm.mean.count == channels, norm.std.count == channels,
      norm.std.allSatisfy({ $0 > 0 })
    else {
      throw DataError("normalisation needs \(channels) means and positive deviations")
    }
  }

  /// The normalisation in use.
  public var normalization: Normalization {
    customNormalization ?? .standard(channels: channels)
  }

  /// 2 global views + `localCrops` local views.
  public var viewCount: Int { 2 + localCrops }

  /// Output side of view `v` (globals first).
  public func size(ofView v: Int) -> Int { v < 2 ? globalSize : localSize }

  /// Floats in one sample of view `v` (channels × size²).
  public func floats(ofView v: Int) -> Int { channels * size(ofView: v) * size(ofView: v) }

  /// The trainer's input shape of view `v`: [batch, channels, size, size].
  public func shape(ofView v: Int) -> [Int] {
    [batchSize, channels, size(ofView: v), size(ofView: v)]
  }

  /// Field-by-field equality (written out because `blurProbabilities` is a tuple).
  public static func == (a: MultiCropConfig, b: MultiCropConfig) -> Bool {
    a.globalSize == b.globalSize && a.localSize == b.localSize && a.localCrops == b.localCrops
      && a.channels == b.channels && a.globalScale == b.globalScale
      && a.localScale == b.localScale && a.ratio == b.ratio && a.batchSize == b.batchSize
      && a.seed == b.seed && a.flipProbability == b.flipProbability
      && a.jitterProbability == b.jitterProbability && a.brightness == b.brightness
      && a.contrast == b.contrast && a.saturation == b.saturation && a.hue == b.hue
      && a.grayscaleProbability == b.grayscaleProbability
      && a.blurProbabilities == b.blurProbabilities && a.blurSigma == b.blurSigma
      && a.solarizeProbability == b.solarizeProbability
      && a.customNormalization == b.customNormalization
  }
}
