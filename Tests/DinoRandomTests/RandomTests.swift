import CDinoKernels
import DinoRandom
import XCTest

/// The generator's one Swift definition against published and pinned outputs (computed
/// from IR/CONTRACT.md's formula outside this code), and against the one C definition.
final class RandomTests: XCTestCase {
  func testSplitMix64MatchesThePublishedFirstOutput() {
    XCTAssertEqual(CounterRandom.splitmix64(0), 0xE220_A839_7B1D_CDAF)
    XCTAssertEqual(CounterRandom.gamma, 0x9E37_79B9_7F4A_7C15)
  }

  func testHashMatchesPinnedValues() {
    XCTAssertEqual(CounterRandom.hash(7, 1, 2, 0), 0x46DA_C02A_08AA_EA2C)
    XCTAssertEqual(CounterRandom.hash(1, 2, 3, 4), 0xD55C_CD4A_EB3C_CAFB)
    XCTAssertEqual(CounterRandom.hash(.max, 0, .max, 5), 0x1096_330B_DE3C_2C59)
  }

  func testStreamIsSplitMix64OfSuccessiveStates() {
    var stream = SplitMix64(seed: 42)
    XCTAssertEqual(stream.next(), 0xBDD7_3226_2FEB_6E95)
    XCTAssertEqual(stream.next(), 0x28EF_E333_B266_F103)
    XCTAssertEqual(stream.next(), 0x4752_6757_130F_9F52)
    XCTAssertEqual(stream.state, 42 &+ 3 &* CounterRandom.gamma)
  }

  func testSwiftAndCAgree() {
    for k in 0..<200 as Range<UInt64> {
      let z = k &* 0x0123_4567_89AB_CDEF
      XCTAssertEqual(CounterRandom.splitmix64(z), dino_splitmix64(z))
      XCTAssertEqual(CounterRandom.hash(k, z, ~k, k >> 1), dino_hash(k, z, ~k, k >> 1))
      let h = dino_hash(k, 1, 2, 3)
      XCTAssertEqual(CounterRandom.kernelUniform01(h), Double(dino_uniform01(h)))
    }
  }

  func testUniformDrawsStayInTheUnitInterval() {
    XCTAssertEqual(CounterRandom.uniform01(0), 0)
    XCTAssertEqual(CounterRandom.uniform01(.max), 1 - 0x1p-53)
    XCTAssertEqual(CounterRandom.kernelUniform01(.max), 1 - 0x1p-24)
    XCTAssertEqual(CounterRandom.below(10, .max), 9)
    XCTAssertEqual(CounterRandom.below(10, 0), 0)
  }
}
