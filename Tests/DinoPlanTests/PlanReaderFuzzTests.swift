import DinoPlan
import XCTest
import _DinoTestSupport

/// The plan reader on mutated plans (Tests/Fuzz/Corpus/plan): every input is decoded or
/// refused, within the time and memory limits. Half the runs repair the checksums after
/// mutating, so that the mutations reach the section parsers and the validator.
/// `tools/fuzz.sh SECONDS` runs them longer.
final class PlanReaderFuzzTests: XCTestCase {
  private func fuzz(seed: UInt64, repair: Bool) throws {
    let corpus = try MutationFuzzer.corpus(in: MutationFuzzer.corpusFolder("plan"))
    var fuzzer = MutationFuzzer(seed: MutationFuzzer.seed(default: seed))
    let report = fuzzer.run(
      corpus: corpus, seconds: MutationFuzzer.seconds(default: 2),
      fixup: repair ? Self.repairChecksums : { $0 }
    ) { _ = try PlanReader.decode($0) }
    fuzzer.check(report, repair ? "plan (checksums repaired)" : "plan", corpusSize: corpus.count)
    XCTAssertGreaterThanOrEqual(report.accepted, corpus.count, "the corpus itself decodes")
  }

  func testMutatedPlansAreDecodedOrRefused() throws { try fuzz(seed: 11, repair: false) }

  func testMutatedPlansWithRepairedChecksumsAreDecodedOrRefused() throws {
    try fuzz(seed: 21, repair: true)
  }

  /// Rewrites the file size, each in-range section's CRC-32 and the header checksum
  /// (IR/PLAN_FORMAT.md) of a mutated plan.
  static func repairChecksums(_ input: [UInt8]) -> [UInt8] {
    var bytes = input
    guard bytes.count >= 272 else { return bytes }
    func load(_ at: Int, _ width: Int) -> Int {
      (0..<width).reduce(0) { $0 | Int(bytes[at + $1]) << (8 * $1) }
    }
    func store(_ value: UInt64, _ at: Int, _ width: Int) {
      for k in 0..<width { bytes[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(k))) }
    }
    store(UInt64(bytes.count), 32, 8)
    for entry in 0..<7 {
      let base = 48 + 32 * entry
      let offset = load(base + 8, 8)
      let length = load(base + 16, 8)
      guard offset >= 0, length >= 0, offset <= bytes.count, length <= bytes.count - offset
      else { continue }
      store(UInt64(PlanFormat.crc32(bytes, offset..<offset + length)), base + 24, 4)
    }
    let head = PlanFormat.crc32(bytes, 0..<44)
    store(UInt64(PlanFormat.crc32(bytes, 48..<272, seed: head)), 44, 4)
    return bytes
  }
}
