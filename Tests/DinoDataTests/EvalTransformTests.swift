import DinoData
import XCTest

final class EvalTransformTests: XCTestCase {
  func testResizeShorterSideThenCentreCrop() throws {
    let t = try EvalTransform(size: 224, channels: 3)
    XCTAssertEqual(t.resizeSize, 256)
    // 500×375: height → 256, width int(256·500/375) = 341; left round(58.5) = 58 (even).
    let g = t.geometry(width: 500, height: 375)
    XCTAssertEqual([g.width, g.height], [341, 256])
    XCTAssertEqual(g.crop, CropBox(x: 58, y: 16, width: 224, height: 224))
    let tall = t.geometry(width: 300, height: 700)
    XCTAssertEqual([tall.width, tall.height], [256, 597])
    XCTAssertEqual(tall.crop, CropBox(x: 16, y: 186, width: 224, height: 224))  // round(186.5) = 186
    // Fashion-MNIST: 28 → resize 32, crop 28 at offset 2.
    let small = try EvalTransform(size: 28, channels: 1)
    XCTAssertEqual(small.resizeSize, 32)
    XCTAssertEqual(
      small.geometry(width: 28, height: 28).crop, CropBox(x: 2, y: 2, width: 28, height: 28))
    XCTAssertEqual(try small.apply(testPattern(width: 28, height: 28, channels: 1)).count, 28 * 28)
  }

  func testEvalLoaderKeepsDatasetOrderAndFlagsBadFiles() throws {
    let dir = try TempDir()
    let root = try makeFolder(in: dir, root: "ds", classes: ["a", "b"], perClass: 3)
    try dir.write("ds/b/zz_bad.png", [0x89, 0x50, 0x4E, 0x47, 1, 2])
    let folder = try ImageFolder(path: root)
    let t = try EvalTransform(size: 16, channels: 3)
    let loader = try EvalLoader(folder: folder, transform: t, batchSize: 4, workers: 2)
    XCTAssertEqual(loader.batchCount, 2)
    var seen: [Int] = []
    try loader.forEachBatch { batch in
      XCTAssertEqual(batch.shape, [batch.count, 3, 16, 16])
      for i in 0..<batch.count {
        let index = batch.start + i
        seen.append(index)
        XCTAssertEqual(batch.labels[i], folder.labels[index])
        let row = Array(batch.images[(i * t.floatsPerImage)..<((i + 1) * t.floatsPerImage)])
        if folder.relativePath(index) == "b/zz_bad.png" {
          XCTAssertEqual(batch.valid[i], 0)
        } else {
          XCTAssertEqual(batch.valid[i], 1)
          XCTAssertEqual(row, try t.apply(Image(contentsOf: folder.paths[index])))
        }
      }
    }
    XCTAssertEqual(seen, Array(0..<7))
    XCTAssertEqual(loader.skipped.map(\.path), ["b/zz_bad.png"])
  }
}
