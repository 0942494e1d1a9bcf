import DinoData
import XCTest
import _DinoTestSupport

/// The JPEG and PNG decoders on mutated images (Tests/Fuzz/Corpus/image), as colour and as
/// luma: every input is decoded or refused, within the time and memory limits (the pixel
/// budget keeps headers that claim huge sizes from allocating).
final class ImageDecodeFuzzTests: XCTestCase {
  func testMutatedImagesAreDecodedOrRefused() throws {
    let corpus = try MutationFuzzer.corpus(in: MutationFuzzer.corpusFolder("image"))
    var fuzzer = MutationFuzzer(seed: MutationFuzzer.seed(default: 14))
    let report = fuzzer.run(corpus: corpus, seconds: MutationFuzzer.seconds(default: 3)) {
      bytes in
      let image = try Image(decoding: bytes)
      XCTAssertEqual(image.pixels.count, image.width * image.height * image.channels)
      _ = try Image(decoding: bytes, channels: 1)
    }
    fuzzer.check(report, "image", corpusSize: corpus.count)
    XCTAssertGreaterThanOrEqual(report.accepted, corpus.count - 1, "all but the huge header")
  }
}
