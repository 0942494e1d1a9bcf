import CDinoImage
import DinoData
import XCTest

/// Each pixel operation against values worked out by hand from Pillow's formulas.
final class ColorOpsTests: XCTestCase {
  func testBrightnessScalesAndTruncates() {
    // out = (uint8) clip(f · v): 1.5·[10, 100, 200, 255] = [15, 150, 300→255, 255];
    // 0.75·[3, 101] = [2.25→2, 75.75→75] (truncation, not rounding).
    var a: [UInt8] = [10, 100, 200, 255]
    dino_adjust_brightness(&a, 4, 1.5)
    XCTAssertEqual(a, [15, 150, 255, 255])
    var b: [UInt8] = [3, 101]
    dino_adjust_brightness(&b, 2, 0.75)
    XCTAssertEqual(b, [2, 75])
  }

  func testContrastBlendsWithRoundedMeanGrey() {
    // Grey 2×2 [0, 50, 100, 251]: mean 100.25 → grey int(100.25 + 0.5) = 100.
    // f = 1.5: 100 + 1.5(v − 100) = [−50→0, 25, 100, 326.5→255]; f = 0.5: [50, 75, 100, 175.5→175].
    var a: [UInt8] = [0, 50, 100, 251]
    dino_adjust_contrast(&a, 2, 2, 1, 1.5)
    XCTAssertEqual(a, [0, 25, 100, 255])
    var b: [UInt8] = [0, 50, 100, 251]
    dino_adjust_contrast(&b, 2, 2, 1, 0.5)
    XCTAssertEqual(b, [50, 75, 100, 175])
    // RGB: the mean is of the luma. Pixels (255,0,0) → L 76 and (0,0,255) → L 29:
    // mean 52.5 → grey 53. f = 0.5 on R of pixel 1: 53 + 0.5·202 = 154; G: 53 − 26.5 = 26.5 → 26.
    var c: [UInt8] = [255, 0, 0, 0, 0, 255]
    dino_adjust_contrast(&c, 2, 1, 3, 0.5)
    XCTAssertEqual(c, [154, 26, 26, 26, 26, 154])
  }

  func testSaturationBlendsWithLuma() {
    // (200, 100, 50): L = (200·19595 + 100·38470 + 50·7471 + 32768) >> 16 = 8172318 >> 16 = 124.
    // f = 0.5: 124 + 0.5·(76, −24, −74) = (162, 112, 87); f = 1.5: (238, 88, 13).
    var a: [UInt8] = [200, 100, 50]
    dino_adjust_saturation(&a, 1, 0.5)
    XCTAssertEqual(a, [162, 112, 87])
    var b: [UInt8] = [200, 100, 50]
    dino_adjust_saturation(&b, 1, 1.5)
    XCTAssertEqual(b, [238, 88, 13])
  }

  func testHueShiftAndWrapRule() {
    // Shift = ((trunc(h·255) mod 256) + 256) mod 256.
    XCTAssertEqual(dino_hue_shift(0.1), 25)  // 25.5 → 25
    XCTAssertEqual(dino_hue_shift(-0.1), 231)  // −25.5 → −25 → 231
    XCTAssertEqual(dino_hue_shift(0), 0)
    // Pure red is H 0, S 255, V 255. +1/3 → H 85: sector floor(85·6/255) = 2, f = 0 → (p, v, t)
    // = (0, 255, 0): green.
    var red: [UInt8] = [255, 0, 0]
    dino_adjust_hue(&red, 1, 1.0 / 3.0)
    XCTAssertEqual(red, [0, 255, 0])
    // −0.1 wraps to H 231: sector 5, f = 231·6/255 − 5 = 0.43529…, q = round(255(1 − f)) = 144
    // → (v, p, q) = (255, 0, 144). Clamping instead of wrapping would have left red unchanged.
    var red2: [UInt8] = [255, 0, 0]
    dino_adjust_hue(&red2, 1, -0.1)
    XCTAssertEqual(red2, [255, 0, 144])
    // Greys have S 0 and never change.
    var grey: [UInt8] = [77, 77, 77]
    dino_adjust_hue(&grey, 1, 0.09)
    XCTAssertEqual(grey, [77, 77, 77])
  }

  func testGrayscaleUsesPillowLumaWeights() {
    // L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16 (0.299, 0.587, 0.114 in 16-bit fixed point).
    let rgb: [UInt8] = [255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255, 10, 20, 30]
    var l = [UInt8](repeating: 0, count: 5)
    dino_rgb_to_luma(rgb, &l, 5)
    // 5029493 >> 16 = 76; 9842618 >> 16 = 150; 1937873 >> 16 = 29; 255; (195950 + 769400
    // + 224130 + 32768) >> 16 = 1222248 >> 16 = 18.
    XCTAssertEqual(l, [76, 150, 29, 255, 18])
  }

  func testSolarizeThreshold128() {
    var a: [UInt8] = [0, 127, 128, 200, 255]
    dino_solarize(&a, 5, 128)
    XCTAssertEqual(a, [0, 127, 127, 55, 0])
  }

  func testGaussianBlurIsPillowsExtendedBoxBlur() {
    // σ = 1, 3 passes: σp² = 1/3, L = √5, l = 0, a = (0 − 1)/(6(1/3 − 1)) = 0.25.
    XCTAssertEqual(dino_box_radius(1.0, 3), 0.25, accuracy: 1e-7)
    // Radius 0.25: ww = (uint32)(2^24/1.5) = 11184811, fw = (2^24 − ww)/2 = 2796202;
    // out[x] = (ww·v[x] + fw·(v[x−1] + v[x+1]) + 2^23) >> 24, edges repeated.
    // Row [0,0,255,0,0,0,0]: pass 1 → [0,42,170,42,0,0,0], pass 2 → [7,56,127,56,7,0,0],
    // pass 3 → [15,60,103,60,14,1,0]. The single-row columns are left as they are.
    var row: [UInt8] = [0, 0, 255, 0, 0, 0, 0]
    var scratch = dino_bytes()
    defer { dino_bytes_free(&scratch) }
    XCTAssertEqual(dino_gaussian_blur(&row, 7, 1, 1, 1.0, &scratch), 0)
    XCTAssertEqual(row, [15, 60, 103, 60, 14, 1, 0])
    // Blurring a constant image changes nothing (weights sum to 2^24).
    var flat = [UInt8](repeating: 93, count: 6 * 5 * 3)
    XCTAssertEqual(dino_gaussian_blur(&flat, 6, 5, 3, 1.7, &scratch), 0)
    XCTAssertEqual(flat, [UInt8](repeating: 93, count: 6 * 5 * 3))
  }

  func testBicubicResizeMatchesHandComputedTaps() {
    // 4 → 2 pixels: scale 2, support 4. Output 0 has centre 1.0 and taps at x = 0…3 with
    // cubic((x − 0.5)/2) = 0.8671875, 0.8671875, 0.2265625, −0.0703125 (sum 1.890625), i.e.
    // 22-bit weights 1923834, 1923834, 502623, −155987. On [0, 100, 200, 255]:
    // (100·1923834 + 200·502623 − 255·155987 + 2^21) >> 22 = 255228467 >> 22 = 60;
    // output 1 uses the mirrored weights: 221.
    let src: [UInt8] = [0, 100, 200, 255]
    var dst = [UInt8](repeating: 0, count: 2)
    var scratch = dino_bytes()
    defer { dino_bytes_free(&scratch) }
    XCTAssertEqual(dino_resize_bicubic(src, 4, 0, 0, 4, 1, 1, &dst, 2, 1, &scratch), 0)
    XCTAssertEqual(dst, [60, 221])
    // 2 → 4 (upscaling keeps support 2): weights (4564390, −370086), (3325484, 868820), …
    // on [10, 200]: [(10·4564390 − 200·370086 + 2^21) >> 22 → negative → 0, 49, 161, 217].
    var up = [UInt8](repeating: 0, count: 4)
    XCTAssertEqual(dino_resize_bicubic([10, 200], 2, 0, 0, 2, 1, 1, &up, 4, 1, &scratch), 0)
    XCTAssertEqual(up, [0, 49, 161, 217])
  }

  func testFlipAndNormalize() {
    var img: [UInt8] = [1, 2, 3, 4, 5, 6]  // 2×1 RGB
    dino_flip_horizontal(&img, 2, 1, 3)
    XCTAssertEqual(img, [4, 5, 6, 1, 2, 3])
    // (v/255 − mean)/std in float32, CHW; a grey image replicated into 3 channels.
    let grey: [UInt8] = [0, 255]
    var out = [Float](repeating: 0, count: 6)
    let mean: [Float] = [0.485, 0.456, 0.406]
    let std: [Float] = [0.229, 0.224, 0.225]
    XCTAssertEqual(dino_normalize(grey, 2, 1, 1, 3, mean, std, &out), 0)
    for c in 0..<3 {
      XCTAssertEqual(out[2 * c], (0 - mean[c]) / std[c])
      XCTAssertEqual(out[2 * c + 1], (1 - mean[c]) / std[c])
    }
  }

  func testSingleChannelViewSkipsColourOperations() throws {
    // Saturation and hue alone on a grey view must leave it untouched; on RGB they act.
    var config = MultiCropConfig()
    config.channels = 1
    let grey = testPattern(width: 20, height: 20, channels: 1)
    let jitterOnly = ViewParameters(
      crop: CropBox(x: 0, y: 0, width: 20, height: 20), size: 20,
      jitter: ColorJitter(
        order: [.saturation, .hue], brightness: 1, contrast: 1,
        saturation: 1.2, hue: 0.1))
    let plain = ViewParameters(crop: CropBox(x: 0, y: 0, width: 20, height: 20), size: 20)
    let augmenter = MultiCropAugmenter(config: config)
    let a = try augmenter.render(grey, parameters: jitterOnly, preview: true).preview
    XCTAssertEqual(a, grey)
    XCTAssertEqual(
      try augmenter.render(grey, parameters: plain).tensor,
      try augmenter.render(grey, parameters: jitterOnly).tensor)
    let rgb = MultiCropAugmenter(config: MultiCropConfig())
    let colour = testPattern(width: 20, height: 20, channels: 3)
    XCTAssertNotEqual(
      try rgb.render(colour, parameters: jitterOnly).tensor,
      try rgb.render(colour, parameters: plain).tensor)
  }
}
