import DinoData
import DinoRandom
import Foundation
import XCTest

/// RandomResizedCrop geometry against the official sampler's distributions.
final class CropGeometryTests: XCTestCase {
  let ratio = (3.0 / 4.0)...(4.0 / 3.0)

  /// torchvision's get_params driven by an independent generator (the reference law).
  func referenceCrop(
    width: Int, height: Int, scale: ClosedRange<Double>,
    rng: inout SplitMix64
  ) -> CropBox {
    let area = Double(width * height)
    for _ in 0..<10 {
      let target = area * Double.random(in: scale.lowerBound..<scale.upperBound, using: &rng)
      let aspect = exp(
        Double.random(in: log(ratio.lowerBound)..<log(ratio.upperBound), using: &rng))
      let w = Int((target * aspect).squareRoot().rounded(.toNearestOrEven))
      let h = Int((target / aspect).squareRoot().rounded(.toNearestOrEven))
      if w > 0, w <= width, h > 0, h <= height {
        return CropBox(
          x: Int.random(in: 0...(width - w), using: &rng),
          y: Int.random(in: 0...(height - h), using: &rng), width: w, height: h)
      }
    }
    return CropBox(x: 0, y: 0, width: width, height: height)  // not reached in these tests
  }

  func ours(width: Int, height: Int, scale: ClosedRange<Double>, n: Int) -> [CropBox] {
    (0..<n).map { i in
      MultiCropAugmenter.randomResizedCrop(
        width: width, height: height, scale: scale, ratio: ratio,
        draws: ViewDraws(seed: 7, epoch: 3, sample: i, view: 2))
    }
  }

  func testLocalScaleAndRatioAreUniformAsOfficial() {
    // On a 1000² image a local crop (scale ≤ 0.4) is never rejected, so the area fraction
    // is U(0.05, 0.4) and log(w/h) is U(log 3/4, log 4/3), up to rounding w and h.
    let n = 20000
    let crops = ours(width: 1000, height: 1000, scale: 0.05...0.4, n: n)
    let fractions = crops.map { Double($0.width * $0.height) / 1e6 }
    let logRatios = crops.map { log(Double($0.width) / Double($0.height)) }
    XCTAssertLessThan(ksUniform(fractions, 0.05, 0.4), 0.02)
    XCTAssertLessThan(ksUniform(logRatios, log(0.75), log(4.0 / 3.0)), 0.02)
    // Positions are uniform over the valid range: mean of x / (W − w) ≈ 1/2.
    let rel = crops.map { Double($0.x) / Double(1000 - $0.width) }
    XCTAssertEqual(rel.reduce(0, +) / Double(n), 0.5, accuracy: 0.01)
    // The same keys give the same crops; another epoch gives others.
    XCTAssertEqual(crops, ours(width: 1000, height: 1000, scale: 0.05...0.4, n: n))
    let other = MultiCropAugmenter.randomResizedCrop(
      width: 1000, height: 1000, scale: 0.05...0.4, ratio: ratio,
      draws: ViewDraws(seed: 7, epoch: 4, sample: 0, view: 2))
    XCTAssertNotEqual(other, crops[0])
  }

  func testGlobalCropsMatchReferenceSamplerWithRejections() {
    // Global scale (0.4, 1) rejects some draws (w or h too large); the accepted law must
    // match the reference sampler's, on a square and on a 500×375 ImageNet-like image.
    for (w, h) in [(1000, 1000), (500, 375)] {
      let n = 20000
      let crops = ours(width: w, height: h, scale: 0.4...1.0, n: n)
      var rng = SplitMix64(seed: 12345)
      let reference = (0..<n).map { _ in
        referenceCrop(width: w, height: h, scale: 0.4...1.0, rng: &rng)
      }
      let area = Double(w * h)
      func stats(_ c: [CropBox]) -> ([Double], [Double]) {
        (
          c.map { Double($0.width * $0.height) / area },
          c.map { log(Double($0.width) / Double($0.height)) }
        )
      }
      let (a1, r1) = stats(crops)
      let (a2, r2) = stats(reference)
      XCTAssertLessThan(ksTwoSample(a1, a2), 0.025, "area fraction, \(w)x\(h)")
      XCTAssertLessThan(ksTwoSample(r1, r2), 0.025, "log aspect, \(w)x\(h)")
      XCTAssertTrue(
        crops.allSatisfy { $0.x >= 0 && $0.y >= 0 && $0.x + $0.width <= w && $0.y + $0.height <= h }
      )
    }
  }

  func testFallbackCentredCrop() {
    let draws = ViewDraws(seed: 0, epoch: 0, sample: 0, view: 0)
    // 100×10 (ratio 10 > 4/3): every attempt is too tall (h ≥ √(400·3/4) ≈ 17 > 10), so the
    // fallback keeps h = 10, w = round(10·4/3) = 13, centred: x = (100 − 13)/2 = 43.
    XCTAssertEqual(
      MultiCropAugmenter.randomResizedCrop(
        width: 100, height: 10, scale: 0.4...1.0, ratio: ratio, draws: draws),
      CropBox(x: 43, y: 0, width: 13, height: 10))
    // 10×100: w = 10, h = round(10/(3/4)) = 13, y = 43.
    XCTAssertEqual(
      MultiCropAugmenter.randomResizedCrop(
        width: 10, height: 100, scale: 0.4...1.0, ratio: ratio, draws: draws),
      CropBox(x: 0, y: 43, width: 10, height: 13))
    // Ratio inside the range but every area too large: the whole image.
    XCTAssertEqual(
      MultiCropAugmenter.randomResizedCrop(
        width: 50, height: 40, scale: 2.0...2.0, ratio: ratio, draws: draws),
      CropBox(x: 0, y: 0, width: 50, height: 40))
  }

  func testExactOutputSizesOfEveryView() throws {
    var config = try MultiCropConfig(hyper: [
      "global_size": 32, "local_size": 12, "local_crops": 3, "channels": 3, "batch": 2,
    ])
    let augmenter = MultiCropAugmenter(config: config)
    for image in [
      testPattern(width: 57, height: 41, channels: 3),
      testPattern(width: 9, height: 300, channels: 1),
    ] {
      let views = try augmenter.views(of: image, epoch: 0, sample: 5)
      XCTAssertEqual(
        views.map(\.count), [3 * 32 * 32, 3 * 32 * 32, 3 * 12 * 12, 3 * 12 * 12, 3 * 12 * 12])
    }
    config.channels = 1
    let grey = MultiCropAugmenter(config: config)
    let views = try grey.views(
      of: testPattern(width: 57, height: 41, channels: 3), epoch: 1, sample: 0)
    XCTAssertEqual(views.map(\.count), [32 * 32, 32 * 32, 144, 144, 144])
    XCTAssertEqual(config.shape(ofView: 0), [2, 1, 32, 32])
    XCTAssertEqual(config.shape(ofView: 4), [2, 1, 12, 12])
  }

  func testViewProbabilitiesFollowTheRecipe() {
    // Over many samples: blur 1.0 / 0.1 / 0.5, solarize only on view 1 (≈ 0.2), flip ≈ 0.5,
    // jitter ≈ 0.8, grayscale ≈ 0.2, σ within [0.1, 2].
    let augmenter = MultiCropAugmenter(config: MultiCropConfig())
    let n = 4000
    var blur = [0, 0, 0]
    var solar = [0, 0, 0]
    var flip = 0
    var jitter = 0
    var gray = 0
    for i in 0..<n {
      for (slot, v) in [0, 1, 5].enumerated() {
        let p = augmenter.parameters(epoch: 0, sample: i, view: v, width: 300, height: 200)
        if let s = p.blurSigma {
          blur[slot] += 1
          XCTAssert(s >= 0.1 && s <= 2.0)
        }
        if p.solarize { solar[slot] += 1 }
        if slot == 2 {
          if p.flip { flip += 1 }
          if let j = p.jitter {
            jitter += 1
            XCTAssertEqual(Set(j.order), Set(JitterOperation.allCases))
            XCTAssert(j.brightness >= 0.6 && j.brightness <= 1.4 && j.hue >= -0.1 && j.hue <= 0.1)
          }
          if p.grayscale { gray += 1 }
        }
      }
    }
    func rate(_ k: Int) -> Double { Double(k) / Double(n) }
    XCTAssertEqual(rate(blur[0]), 1.0)
    XCTAssertEqual(rate(blur[1]), 0.1, accuracy: 0.02)
    XCTAssertEqual(rate(blur[2]), 0.5, accuracy: 0.03)
    XCTAssertEqual(solar[0], 0)
    XCTAssertEqual(rate(solar[1]), 0.2, accuracy: 0.025)
    XCTAssertEqual(solar[2], 0)
    XCTAssertEqual(rate(flip), 0.5, accuracy: 0.03)
    XCTAssertEqual(rate(jitter), 0.8, accuracy: 0.025)
    XCTAssertEqual(rate(gray), 0.2, accuracy: 0.025)
  }
}

/// Kolmogorov–Smirnov distance of a sample to U(lo, hi).
func ksUniform(_ xs: [Double], _ lo: Double, _ hi: Double) -> Double {
  let s = xs.sorted()
  let n = Double(s.count)
  var d = 0.0
  for (i, x) in s.enumerated() {
    let f = min(1, max(0, (x - lo) / (hi - lo)))
    d = max(d, abs(f - Double(i) / n), abs(f - Double(i + 1) / n))
  }
  return d
}

/// Two-sample Kolmogorov–Smirnov distance.
func ksTwoSample(_ a: [Double], _ b: [Double]) -> Double {
  let x = a.sorted()
  let y = b.sorted()
  var i = 0
  var j = 0
  var d = 0.0
  while i < x.count && j < y.count {
    let v = min(x[i], y[j])
    while i < x.count && x[i] <= v { i += 1 }
    while j < y.count && y[j] <= v { j += 1 }
    d = max(d, abs(Double(i) / Double(x.count) - Double(j) / Double(y.count)))
  }
  return d
}
