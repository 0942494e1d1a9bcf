import DinoDSL
import XCTest

/// The position-embedding interpolation map against official DINO's
/// `interpolate_pos_encoding` (reference values computed by the official code in float64).
final class PosEmbedTests: XCTestCase {
  /// `map · table` for a row-major `map [outRows, inRows]` and `table [inRows, dim]`.
  private func apply(_ map: [Float], _ table: [Double], inRows: Int, dim: Int) -> [Double] {
    let outRows = map.count / inRows
    var out = [Double](repeating: 0, count: outRows * dim)
    for r in 0..<outRows {
      for i in 0..<inRows where map[r * inRows + i] != 0 {
        let w = Double(map[r * inRows + i])
        for d in 0..<dim { out[r * dim + d] += w * table[i * dim + d] }
      }
    }
    return out
  }

  private func checkReference(
    image: Int, crop: Int, patch: Int, file: StaticString = #filePath, line: UInt = #line
  ) throws {
    let reference = try ReferenceFiles.open("pos_embed_interp")
    let table = try reference.doubles("pos_embed_\(image)")
    let expected = try reference.doubles("interp_\(image)_to_\(crop)")
    let grid = image / patch
    let side = crop / patch
    let dim = 8
    XCTAssertEqual(reference.entries["pos_embed_\(image)"]?.shape, [grid * grid + 1, dim])
    XCTAssertEqual(reference.entries["interp_\(image)_to_\(crop)"]?.shape, [side * side + 1, dim])
    let map = posEmbedInterpolationMatrix(grid: grid, rows: side, cols: side)
    XCTAssertEqual(map.count, (side * side + 1) * (grid * grid + 1))
    let got = apply(map, table, inRows: grid * grid + 1, dim: dim)
    let error = zip(got, expected).map { abs($0 - $1) }.max() ?? .infinity
    XCTAssertLessThan(error, 1e-6, "max abs error \(error)", file: file, line: line)
    // The CLS position passes through unchanged.
    XCTAssertEqual(Array(got[0..<dim]), Array(table[0..<dim]), file: file, line: line)
  }

  func testPatch4From28To12MatchesOfficial() throws {
    try checkReference(image: 28, crop: 12, patch: 4)
  }

  func testPatch16From224To96MatchesOfficial() throws {
    try checkReference(image: 224, crop: 96, patch: 16)
  }

  func testSameGridIsTheIdentity() {
    let map = posEmbedInterpolationMatrix(grid: 3, rows: 3, cols: 3)
    for r in 0..<10 {
      for c in 0..<10 { XCTAssertEqual(map[r * 10 + c], r == c ? 1 : 0) }
    }
  }

  /// The +0.1 offset: torch maps output index o to source (o + 0.5)·M/(h0 + 0.1) − 0.5, so the
  /// 14 → 6 resampling reads around 0.6475, 2.9426, … (docs/DINO.md §2.3), not 0.667, 3.
  func testScaleFactorSetsTheSourceCoordinates() {
    let weights = bicubicInterpolationWeights(
      inputSize: 14, outputSize: 6, scaleFactor: 6.1 / 14)
    for (o, row) in weights.enumerated() {
      XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12)
      let src = (Double(o) + 0.5) * 14 / 6.1 - 0.5
      let base = Int(src.rounded(.down))
      let t = src - Double(base)
      // Keys' kernel, A = −0.75, at distances 1 + t, t, 1 − t, 2 − t.
      let a = -0.75
      func near(_ x: Double) -> Double { ((a + 2) * x - (a + 3)) * x * x + 1 }
      func far(_ x: Double) -> Double { ((a * x - 5 * a) * x + 8 * a) * x - 4 * a }
      var expected = [Double](repeating: 0, count: 14)
      for (k, w) in [far(1 + t), near(t), near(1 - t), far(2 - t)].enumerated() {
        expected[min(max(base - 1 + k, 0), 13)] += w  // taps clamped to the table
      }
      for i in 0..<14 { XCTAssertEqual(row[i], expected[i], accuracy: 1e-12) }
    }
    XCTAssertEqual((0.5 * 14 / 6.1 - 0.5), 0.6475, accuracy: 1e-4)
  }

  /// Rows of the patch grid follow the image height, columns its width: a table that varies
  /// only along the grid rows gives, for a 3 × 5 input, rows resampled with scale (3 + 0.1)/7.
  func testHeightAndWidthAxes() {
    let grid = 7
    let rows = 3
    let cols = 5
    let table = [0.0] + (0..<(grid * grid)).map { Double($0 / grid) * Double($0 / grid) }
    let map = posEmbedInterpolationMatrix(grid: grid, rows: rows, cols: cols)
    let got = apply(map, table, inRows: grid * grid + 1, dim: 1)
    let rowWeights = bicubicInterpolationWeights(
      inputSize: grid, outputSize: rows, scaleFactor: 3.1 / 7)
    for r in 0..<rows {
      let expected = (0..<grid).reduce(0) { $0 + rowWeights[r][$1] * Double($1 * $1) }
      for c in 0..<cols { XCTAssertEqual(got[1 + r * cols + c], expected, accuracy: 1e-5) }
    }
    let swapped = bicubicInterpolationWeights(
      inputSize: grid, outputSize: rows, scaleFactor: 5.1 / 7)
    let wrong = (0..<grid).reduce(0) { $0 + swapped[0][$1] * Double($1 * $1) }
    XCTAssertGreaterThan(abs(got[1] - wrong), 1e-3)
  }

  /// Edge taps are clamped to the table (upsampling reads before index 0 and past M − 1).
  func testUpsamplingClampsTheTaps() {
    let weights = bicubicInterpolationWeights(inputSize: 4, outputSize: 9, scaleFactor: 9.1 / 4)
    for row in weights {
      XCTAssertEqual(row.count, 4)
      XCTAssertEqual(row.reduce(0, +), 1, accuracy: 1e-12)
    }
    // Output 0 samples source −0.28: all four taps fall on indices −2 … 1, clamped to 0 and 1.
    XCTAssertEqual(weights[0][2], 0)
    XCTAssertEqual(weights[0][3], 0)
  }

  func testDropPathRatesFollowTorchLinspaceInFloat32() {
    let rates = dropPathRates(0.1, depth: 12)
    XCTAssertEqual(rates.count, 12)
    XCTAssertEqual(rates[0], 0)
    XCTAssertEqual(rates[11], Double(Float(0.1)))
    let step = Float(0.1) / 11
    XCTAssertEqual(rates[3], Double(step * 3))
    XCTAssertEqual(rates[8], Double(Float(0.1) - step * 3))
    XCTAssertEqual(dropPathRates(0.1, depth: 1), [0])
    XCTAssertEqual(dropPathRates(0, depth: 4), [0, 0, 0, 0])
  }
}

/// DinoDSL's interpolation map for tests in files that do not import DinoDSL.
enum DinoDSLBridge {
  /// `posEmbedInterpolationMatrix(grid:rows:cols:)` for a square input, widened to Double.
  static func posEmbedMap(grid: Int, rows: Int) -> [Double] {
    posEmbedInterpolationMatrix(grid: grid, rows: rows, cols: rows).map(Double.init)
  }
}
