import DinoData
import XCTest

final class ConfigTests: XCTestCase {
  func testDefaultsAreTheOfficialRecipe() throws {
    let c = try MultiCropConfig(hyper: [:])
    XCTAssertEqual(
      [c.globalSize, c.localSize, c.localCrops, c.channels, c.batchSize], [224, 96, 8, 3, 64])
    XCTAssertEqual(c.globalScale, 0.4...1.0)
    XCTAssertEqual(c.localScale, 0.05...0.4)
    XCTAssertEqual(
      [c.brightness, c.contrast, c.saturation, c.hue, c.jitterProbability],
      [0.4, 0.4, 0.2, 0.1, 0.8])
    XCTAssertTrue(c.blurProbabilities == (1.0, 0.1, 0.5))
    XCTAssertEqual(c.blurSigma, 0.1...2.0)
    XCTAssertEqual(c.normalization, .imageNet)
    XCTAssertEqual(c.viewCount, 10)
  }

  func testHyperParametersOverrideGeometry() throws {
    let c = try MultiCropConfig(hyper: [
      "global_size": 28, "local_size": 12, "local_crops": 6, "channels": 1, "batch": 64,
      "global_scale_min": 0.5, "global_scale_max": 1, "local_scale_min": 0.1,
      "local_scale_max": 0.45, "seed": 5, "lr": 0.1, "blur_sigma_min": 0.05,
      "blur_sigma_max": 0.5,
    ])
    XCTAssertEqual([c.globalSize, c.localSize, c.localCrops, c.channels], [28, 12, 6, 1])
    XCTAssertEqual(c.globalScale, 0.5...1.0)
    XCTAssertEqual(c.localScale, 0.1...0.45)
    XCTAssertEqual(c.seed, 5)
    XCTAssertEqual(c.blurSigma, 0.05...0.5)
    XCTAssertEqual(c.normalization, .luma)
    XCTAssertEqual(c.size(ofView: 1), 28)
    XCTAssertEqual(c.size(ofView: 2), 12)
  }

  func testBadHyperParametersAreOneLineErrors() {
    func message(_ hyper: [String: Double]) -> String? {
      do {
        _ = try MultiCropConfig(hyper: hyper)
        return nil
      } catch { return error.message }
    }
    XCTAssertEqual(message(["channels": 2]), "channels = 2: the data pipeline supports 1 or 3")
    XCTAssertEqual(message(["batch": 2.5]), "hyper-parameter batch = 2.5 must be an integer ≥ 1")
    XCTAssertEqual(
      message(["local_scale_max": 1.5]), "hyper-parameter local_scale_max = 1.5 must be in (0, 1]")
    XCTAssertEqual(
      message(["global_scale_min": 0.9, "global_scale_max": 0.5]),
      "global_scale_min 0.9 is larger than global_scale_max 0.5")
    XCTAssertEqual(
      message(["blur_sigma_max": -1]),
      "hyper-parameter blur_sigma_max = -1.0 must be in (0, 1000] pixels")
    XCTAssertEqual(
      message(["blur_sigma_min": 1, "blur_sigma_max": 0.5]),
      "blur_sigma_min 1.0 is larger than blur_sigma_max 0.5")
  }
}
