import DinoIR
import XCTest
import _DinoTestSupport

/// The IR text parser and verifier on mutated IR (Tests/Fuzz/Corpus/ir): every input is
/// parsed or refused, within the time and memory limits.
final class IRTextFuzzTests: XCTestCase {
  func testMutatedIRIsParsedOrRefused() throws {
    let corpus = try MutationFuzzer.corpus(in: MutationFuzzer.corpusFolder("ir"))
    var fuzzer = MutationFuzzer(seed: MutationFuzzer.seed(default: 12))
    let report = fuzzer.run(corpus: corpus, seconds: MutationFuzzer.seconds(default: 3)) {
      let graph = try parseIR(String(decoding: $0, as: UTF8.self), fileName: "fuzz.ir")
      try Verifier.verify(graph)
    }
    fuzzer.check(report, "ir", corpusSize: corpus.count)
    XCTAssertGreaterThanOrEqual(report.accepted, corpus.count, "the corpus itself parses")
  }
}
