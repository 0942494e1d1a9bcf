import DinoPlan
import XCTest

/// `MemorySize.parse`: the sizes `dinoc compile --memory-limit` reads.
final class MemorySizeTests: XCTestCase {
  func testUnitsAreBinaryAndOptional() throws {
    XCTAssertEqual(try MemorySize.parse("786432000"), 786_432_000)
    XCTAssertEqual(try MemorySize.parse("700M"), 700 << 20)
    XCTAssertEqual(try MemorySize.parse("800MiB"), 800 << 20)
    XCTAssertEqual(try MemorySize.parse("800mb"), 800 << 20)
    XCTAssertEqual(try MemorySize.parse("1.5G"), 3 << 29)
    XCTAssertEqual(try MemorySize.parse("64K"), 65536)
    XCTAssertEqual(try MemorySize.parse("2T"), 2 << 40)
    XCTAssertEqual(try MemorySize.parse("512B"), 512)
    XCTAssertEqual(try MemorySize.parse(" 3g "), 3 << 30)
    XCTAssertEqual(try MemorySize.parse("0.5K"), 512)
  }

  func testMalformedSizesAreRefusedWithTheAcceptedForms() {
    for text in [
      "", "M", "7O0M", "700X", "1.2.3G", "-5M", "0", "0M", "1e9", "700 M", "5MM",
      "0.1", "nanM", "1GiBs",
    ] {
      XCTAssertThrowsError(try MemorySize.parse(text), text) { error in
        XCTAssertEqual(
          (error as? MemorySize.Malformed)?.description,
          "'\(text)' is not a size: give bytes or a positive number with K, M, G or T "
            + "(binary units, optionally followed by iB or B), e.g. 700M, 1.5G, 800MiB")
      }
    }
  }
}
