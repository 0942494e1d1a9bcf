import DinoData
import XCTest

final class CropGridTests: XCTestCase {
  func testGridShowsEveryViewOfEachImageAndSkipsBadFiles() throws {
    let dir = try TempDir()
    let root = try makeFolder(in: dir, root: "ds", classes: ["a", "b"], perClass: 3)
    try dir.write("ds/a/img0.png", [0x89, 0x50, 0x4E, 0x47, 0, 0])  // the first pick is broken
    let folder = try ImageFolder(path: root)
    let config = try MultiCropConfig(hyper: [
      "global_size": 28, "local_size": 12, "local_crops": 6, "channels": 1,
    ])
    let grid = try CropGrid(folder: folder, config: config, count: 3)
    XCTAssertEqual(grid.rows, 3)
    XCTAssertEqual(grid.enlargement, 4)  // 28 px → 112 px cells
    XCTAssertEqual(grid.skipped.map(\.path), ["a/img0.png"])
    // Width: 4 + 112 + 16 + 2·112 + 4 + 16 + 6·(48 + 4); height: 4 + 3·(112 + 4).
    XCTAssertEqual([grid.image.width, grid.image.height, grid.image.channels], [692, 352, 1])
    let rgb = try CropGrid(
      folder: folder,
      config: try MultiCropConfig(hyper: ["global_size": 32, "local_size": 16, "local_crops": 2]),
      count: 1)
    XCTAssertEqual(rgb.image.channels, 3)
    XCTAssertEqual(rgb.rows, 1)
    // The image is written as a PNG that decodes to the same pixels.
    try grid.image.writePNG(to: dir.path + "/grid.png")
    XCTAssertEqual(try Image(contentsOf: dir.path + "/grid.png"), grid.image)
  }
}
