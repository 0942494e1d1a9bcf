import DinoData
import Foundation
import XCTest

/// Image folders and files that used to hang, loop or exhaust memory: FIFOs, device links,
/// symbolic-link cycles, images whose header claims a huge size; and palette PNGs with
/// transparency, which are decoded.
final class HostileFolderTests: XCTestCase {
  /// A 69-byte PNG whose header claims 30000 × 30000 grey pixels (900 megapixels).
  static let hugePNG = hex(
    "89504e470d0a1a0a0000000d4948445200007530000075300800000000434ca7660000000c4944415478"
      + "9c6360a03d00000064000186643c350000000049454e44ae426082")
  /// A 2 × 2 palette PNG (red, green) whose tRNS chunk makes red transparent, green half.
  static let palettePNG = hex(
    "89504e470d0a1a0a0000000d49484452000000020000000208030000004568fd1600000006504c5445ff00"
      + "0000ff00d287ef710000000274524e5300809b2b4e180000000c49444154789c636060044200000c0003"
      + "2b63cb500000000049454e44ae426082")

  static func hex(_ text: String) -> [UInt8] {
    var bytes: [UInt8] = []
    var index = text.startIndex
    while index < text.endIndex {
      let next = text.index(index, offsetBy: 2)
      bytes.append(UInt8(text[index..<next], radix: 16)!)
      index = next
    }
    return bytes
  }

  /// A folder `data/{a,b}` with two good images each.
  private func folder(_ dir: TempDir) throws -> String {
    try makeFolder(in: dir, root: "data", classes: ["a", "b"], perClass: 2)
  }

  func testFIFOsAndDevicesAreSkippedAndCounted() throws {
    let dir = try TempDir()
    let root = try folder(dir)
    XCTAssertEqual(mkfifo(root + "/a/fifo.png", 0o644), 0)
    try FileManager.default.createSymbolicLink(
      atPath: root + "/b/zero.png", withDestinationPath: "/dev/zero")
    try FileManager.default.createSymbolicLink(
      atPath: root + "/b/gone.png", withDestinationPath: root + "/nowhere.png")
    let images = try ImageFolder(path: root)
    XCTAssertEqual(images.count, 4)
    XCTAssertEqual(
      images.ignored,
      [
        SkippedFile(path: "a/fifo.png", reason: "not a regular file (FIFO)"),
        SkippedFile(path: "b/gone.png", reason: "not a regular file (broken symbolic link)"),
        SkippedFile(path: "b/zero.png", reason: "not a regular file (character device)"),
      ])
    let line = try XCTUnwrap(SkippedFile.summary(images.ignored, total: 7, root: root))
    XCTAssertTrue(line.hasSuffix("; by kind: 3 not a regular file"), line)

    // The decoders refuse them too, without blocking, even when asked directly.
    for path in [root + "/a/fifo.png", root + "/b/zero.png"] {
      XCTAssertThrowsError(try Image(contentsOf: path)) { error in
        XCTAssertTrue("\(error)".contains("not a regular file"), "\(error)")
      }
    }
    // A loader over the folder finishes its epoch.
    let config = try MultiCropConfig(hyper: [
      "global_size": 16, "local_size": 8, "local_crops": 1, "channels": 3, "batch": 2,
    ])
    let loader = try BatchLoader(folder: images, config: config, workers: 2)
    for _ in 0..<loader.batchesPerEpoch { try loader.withNextBatch { _ in } }
  }

  func testSecondNamesOfAnImageAreCountedOnce() throws {
    let dir = try TempDir()
    let root = try folder(dir)
    try FileManager.default.createSymbolicLink(
      atPath: root + "/b/soft.png", withDestinationPath: root + "/a/img0.png")
    try FileManager.default.linkItem(atPath: root + "/a/img0.png", toPath: root + "/b/hard.png")
    let images = try ImageFolder(path: root)
    XCTAssertEqual(images.count, 4)
    XCTAssertEqual(
      images.ignored,
      [
        SkippedFile(path: "b/hard.png", reason: "same file as a/img0.png"),
        SkippedFile(path: "b/soft.png", reason: "same file as a/img0.png"),
      ])
    let line = try XCTUnwrap(SkippedFile.summary(images.ignored, total: 6, root: root))
    XCTAssertTrue(line.hasSuffix("; by kind: 2 duplicate"), line)
  }

  func testSymbolicLinkCyclesEndAndCountEachImageOnce() throws {
    let dir = try TempDir()
    let root = try folder(dir)
    try FileManager.default.createSymbolicLink(atPath: root + "/a/up", withDestinationPath: "..")
    try FileManager.default.createSymbolicLink(
      atPath: root + "/b/again", withDestinationPath: root + "/a")
    let images = try ImageFolder(path: root)
    XCTAssertEqual(images.count, 4)
    XCTAssertEqual(Set(images.paths).count, 4)
    let reason = "folder already visited: symbolic-link cycle or second link"
    XCTAssertEqual(
      images.ignored,
      [SkippedFile(path: "a/up", reason: reason), SkippedFile(path: "b/again", reason: reason)])
    let line = try XCTUnwrap(SkippedFile.summary(images.ignored, total: 6, root: root))
    XCTAssertTrue(line.hasSuffix("; by kind: 2 folder cycle"), line)
  }

  /// The pixel budget is checked from the header, before any pixel memory is allocated.
  func testPixelBudgetIsCheckedBeforeAllocating() throws {
    XCTAssertEqual(PixelBudget.maxPixels, 64 * 1024 * 1024)
    XCTAssertThrowsError(try Image(decoding: Self.hugePNG)) { error in
      XCTAssertEqual(
        "\(error)",
        "30000x30000 is 900000000 pixels, above the budget of 67108864 (--max-pixels)")
    }
    let dir = try TempDir()
    let root = try folder(dir)
    try dir.write("data/a/huge.png", Self.hugePNG)
    try PixelBudget.set(1315)  // a/img0, a/img1 (40×32, 41×32) fit, b/… (40×33, 41×33) do not
    defer { try? PixelBudget.set(PixelBudget.defaultMaxPixels) }
    XCTAssertThrowsError(try Image(contentsOf: root + "/b/img1.jpg")) { error in
      XCTAssertTrue("\(error)".hasSuffix("above the budget of 1315 (--max-pixels)"), "\(error)")
    }
    let images = try ImageFolder(path: root)
    let config = try MultiCropConfig(hyper: [
      "global_size": 16, "local_size": 8, "local_crops": 1, "channels": 3, "batch": 1,
    ])
    let loader = try BatchLoader(folder: images, config: config, workers: 1)
    for _ in 0..<2 * loader.batchesPerEpoch { try loader.withNextBatch { _ in } }
    let line = try XCTUnwrap(loader.skipSummary())
    XCTAssertTrue(line.contains("a/huge.png (30000x30000 is 900000000 pixels"), line)
    XCTAssertTrue(line.contains("over the pixel budget"), line)
    XCTAssertThrowsError(try PixelBudget.set(0))
  }

  /// A (sparse) 2 GiB file named like an image is refused before a byte is read.
  func testHugeFilesAreNotRead() throws {
    let dir = try TempDir()
    let path = dir.path + "/big.png"
    XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: nil))
    XCTAssertEqual(truncate(path, 2 << 30), 0)
    XCTAssertThrowsError(try Image(contentsOf: path)) { error in
      XCTAssertEqual(
        "\(error)", "\(path): file of 2147483648 bytes is above the 1 GiB limit for images")
    }
  }

  func testPalettePNGWithTransparencyDecodes() throws {
    let image = try Image(decoding: Self.palettePNG)
    XCTAssertEqual([image.width, image.height, image.channels], [2, 2, 3])
    XCTAssertEqual(image.pixels, [255, 0, 0, 0, 255, 0, 0, 255, 0, 255, 0, 0])
  }
}
