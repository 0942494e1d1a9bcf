import CDinoKernels
import XCTest

/// `dino_first_nonfinite`: the first NaN or infinity, across block boundaries; finite
/// extremes (largest, subnormal, −0) pass.
final class FiniteScanTests: XCTestCase {
  func scan(_ values: [Float]) -> Int64 {
    values.withUnsafeBufferPointer { dino_first_nonfinite($0.baseAddress, Int64($0.count)) }
  }

  func testFindsTheFirstNonFiniteValue() {
    var values = [Float](repeating: 1, count: 3000)
    values[5] = .greatestFiniteMagnitude
    values[6] = .leastNonzeroMagnitude
    values[7] = -0.0
    XCTAssertEqual(scan(values), -1)
    XCTAssertEqual(scan([]), -1)
    values[2500] = .nan
    XCTAssertEqual(scan(values), 2500)
    values[1024] = -.infinity
    XCTAssertEqual(scan(values), 1024)
    values[1023] = .infinity
    XCTAssertEqual(scan(values), 1023)
    values[0] = -.nan
    XCTAssertEqual(scan(values), 0)
    XCTAssertEqual(scan(Array(values[1...999])), -1)
  }
}
