import DinoData
import XCTest

final class DecodeTests: XCTestCase {
  func testPNGRoundTripsExactlyInGreyAndColour() throws {
    let dir = try TempDir()
    for channels in [1, 3] {
      let img = testPattern(width: 23, height: 17, channels: channels)
      try img.writePNG(to: dir.path + "/a.png")
      XCTAssertEqual(try Image(contentsOf: dir.path + "/a.png"), img)
    }
  }

  func testJPEGDecodesGreyAndColourAtNativeChannels() throws {
    let dir = try TempDir()
    for channels in [1, 3] {
      let img = testPattern(width: 64, height: 48, channels: channels)
      try img.writeJPEG(to: dir.path + "/a.jpg", quality: 95)
      let back = try Image(contentsOf: dir.path + "/a.jpg")
      XCTAssertEqual([back.width, back.height, back.channels], [64, 48, channels])
      let maxDiff = zip(back.pixels, img.pixels).map { abs(Int($0) - Int($1)) }.max()!
      XCTAssertLessThan(maxDiff, 40)
    }
    // Asking for 1 channel converts colour to luma.
    let colour = testPattern(width: 16, height: 16, channels: 3)
    try colour.writePNG(to: dir.path + "/c.png")
    XCTAssertEqual(try Image(contentsOf: dir.path + "/c.png", channels: 1), colour.luma())
  }

  func testBrokenFilesAreOneLineErrors() throws {
    let dir = try TempDir()
    let img = testPattern(width: 64, height: 64, channels: 3)
    try img.writeJPEG(to: dir.path + "/full.jpg")
    let bytes = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.path + "/full.jpg")))
    try dir.write("cut.jpg", Array(bytes.prefix(bytes.count / 2)))
    try dir.write("text.jpg", Array("hello, not an image\n".utf8))
    try img.writePNG(to: dir.path + "/full.png")
    let png = try [UInt8](Data(contentsOf: URL(fileURLWithPath: dir.path + "/full.png")))
    try dir.write("cut.png", Array(png.prefix(png.count / 2)))
    func message(_ name: String) -> String {
      do {
        _ = try Image(contentsOf: dir.path + "/" + name)
        return "decoded"
      } catch { return error.message }
    }
    XCTAssertTrue(message("cut.jpg").hasSuffix("cut.jpg: truncated JPEG data"), message("cut.jpg"))
    XCTAssertTrue(message("text.jpg").hasSuffix("not a JPEG or PNG image"))
    XCTAssertTrue(message("cut.png").hasSuffix("truncated PNG data"), message("cut.png"))
    XCTAssertTrue(message("missing.png").contains("cannot open"))
    XCTAssertFalse(message("cut.jpg").contains("\n"))
  }
}
