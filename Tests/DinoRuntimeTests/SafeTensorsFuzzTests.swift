import DinoRuntime
import XCTest
import _DinoTestSupport

/// The safetensors reader on mutated files (Tests/Fuzz/Corpus/safetensors): every input is
/// decoded or refused (checksums included), within the time and memory limits.
final class SafeTensorsFuzzTests: XCTestCase {
  func testMutatedFilesAreDecodedOrRefused() throws {
    let corpus = try MutationFuzzer.corpus(in: MutationFuzzer.corpusFolder("safetensors"))
    var fuzzer = MutationFuzzer(seed: MutationFuzzer.seed(default: 13))
    let report = fuzzer.run(corpus: corpus, seconds: MutationFuzzer.seconds(default: 3)) {
      _ = try SafeTensors.decode($0)
    }
    fuzzer.check(report, "safetensors", corpusSize: corpus.count)
    XCTAssertGreaterThanOrEqual(report.accepted, corpus.count, "the corpus itself decodes")
  }
}
