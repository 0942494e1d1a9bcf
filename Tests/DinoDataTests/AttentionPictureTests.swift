import DinoData
import XCTest

/// The official attention threshold, the viridis table, and the attention picture's layout.
final class AttentionPictureTests: XCTestCase {
  /// [0.1, 0.2, 0.3, 0.4] at 0.6: ascending cumsum 0.1, 0.3, 0.6, 1.0 > 0.4 keeps the two
  /// largest (mass 0.7); at 1.0 everything is kept, at a tiny share only the largest.
  func testOfficialRuleOnKnownValues() {
    XCTAssertEqual(
      AttentionMask.keep([0.3, 0.1, 0.4, 0.2], share: 0.6), [true, false, true, false])
    XCTAssertEqual(AttentionMask.keep([0.3, 0.1, 0.4, 0.2], share: 1), [true, true, true, true])
    XCTAssertEqual(
      AttentionMask.keep([0.3, 0.1, 0.4, 0.2], share: 0.01), [false, false, true, false])
    XCTAssertEqual(AttentionMask.keep([0, 0], share: 0.5), [false, false])
  }

  /// On random attention (not normalised: the rule normalises) the mask keeps at least the
  /// stated share of the mass, is the highest values only, and is minimal: without its
  /// smallest member it would hold less than the share.
  func testMaskKeepsTheStatedShare() {
    var state: UInt64 = 11
    for trial in 0..<50 {
      let count = 5 + trial
      let values = (0..<count).map { _ -> Float in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Float(state >> 40) / Float(1 << 24) * 0.3
      }
      let total = values.reduce(0.0) { $0 + Double($1) }
      for share in [0.1, 0.6, 0.9] {
        let kept = AttentionMask.keep(values, share: share)
        let keptValues = values.indices.filter { kept[$0] }.map { Double(values[$0]) }
        let mass = keptValues.reduce(0, +) / total
        XCTAssertGreaterThanOrEqual(mass, share - 1e-6, "trial \(trial) share \(share)")
        XCTAssertLessThan(
          mass - keptValues.min()! / total, share + 1e-6, "trial \(trial) share \(share)")
        let dropped = values.indices.filter { !kept[$0] }.map { values[$0] }
        if let highestDropped = dropped.max() {
          XCTAssertLessThanOrEqual(Double(highestDropped), keptValues.min()!)
        }
      }
    }
  }

  /// The table is matplotlib's viridis: 256 entries from (68, 1, 84) to (253, 231, 36);
  /// values map like matplotlib's lookup (⌊v·256⌋, 1 → 255).
  func testViridis() {
    XCTAssertEqual(Viridis.table.count, 768)
    XCTAssertTrue(Viridis.color(0) == (68, 1, 84))
    XCTAssertTrue(Viridis.color(1) == (253, 231, 36))
    let middle = Viridis.table[384..<387]
    XCTAssertTrue(Viridis.color(0.5) == (middle[384], middle[385], middle[386]))
    XCTAssertTrue(Viridis.color(-3) == (68, 1, 84))
    XCTAssertTrue(Viridis.color(.nan) == (68, 1, 84))
  }

  /// Two images with 3 heads on a 2×2 grid at 8-pixel panels, with masks: width
  /// 4 + 8 + 16 + 3·12, height 4 + 4·12; each head's highest patch is viridis yellow and its
  /// lowest dark violet; a kept patch is blended half-and-half with yellow, a dropped one
  /// unchanged.
  func testLayoutColoursAndMasks() throws {
    let white = Image(width: 5, height: 3, channels: 1, pixels: [UInt8](repeating: 200, count: 15))
    let maps: [[Float]] = [[0.1, 0.4, 0.2, 0.3], [0.5, 0.1, 0.1, 0.3], [0.25, 0.25, 0.25, 0.25]]
    let masks = maps.map { AttentionMask.keep($0, share: 0.6) }
    let row = AttentionPicture.Row(image: white, maps: maps, masks: masks)
    let picture = try AttentionPicture.compose([row, row], gridSide: 2, panel: 8)
    XCTAssertEqual(picture.width, 4 + 8 + 16 + 3 * 12)
    XCTAssertEqual(picture.height, 4 + 4 * 12)
    XCTAssertEqual(picture.channels, 3)
    func pixel(_ x: Int, _ y: Int) -> [UInt8] {
      Array(picture.pixels[(y * picture.width + x) * 3..<(y * picture.width + x) * 3 + 3])
    }
    let head0 = AttentionPicture.headX(0, 8)
    XCTAssertEqual(pixel(head0 + 4, 4), [253, 231, 36])  // patch (0, 1): 0.4, the max
    XCTAssertEqual(pixel(head0, 4), [68, 1, 84])  // patch (0, 0): 0.1, the min
    XCTAssertEqual(pixel(head0 + 7, 4 + 7), pixel(head0 + 4, 4 + 4))  // one patch, one colour
    XCTAssertEqual(pixel(4, 4), [200, 200, 200])  // the image
    // Mask row of head 0: 0.6 of the mass is patches 1 (0.4) and 3 (0.3).
    let maskY = 4 + 12
    XCTAssertEqual(pixel(head0 + 4, maskY), [227, 216, 118])  // (200 + (253, 231, 36)) / 2
    XCTAssertEqual(pixel(head0, maskY), [200, 200, 200])
    XCTAssertThrowsError(try AttentionPicture.compose([row], gridSide: 3, panel: 8))
  }

  /// Model input: grey to the model's size, normalised per channel; colour to luma.
  func testModelInput() throws {
    let grey = Image(width: 2, height: 2, channels: 1, pixels: [0, 255, 255, 0])
    let input = try AttentionPicture.modelInput(
      grey, size: 2, channels: 1, normalization: Normalization(mean: [0.5], std: [0.5]))
    XCTAssertEqual(input, [-1, 1, 1, -1])
    let colour = Image(width: 3, height: 1, channels: 3, pixels: [255, 0, 0, 0, 255, 0, 0, 0, 255])
    let rgb = try AttentionPicture.modelInput(
      colour, size: 4, channels: 3, normalization: .imageNet)
    XCTAssertEqual(rgb.count, 3 * 16)
    XCTAssertEqual(AttentionPicture.panelSide(requested: 112, gridSide: 7), 112)
    XCTAssertEqual(AttentionPicture.panelSide(requested: 100, gridSide: 7), 98)
    XCTAssertEqual(AttentionPicture.panelSide(requested: 3, gridSide: 7), 7)
  }
}
