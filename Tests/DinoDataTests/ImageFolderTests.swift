import DinoData
import XCTest

final class ImageFolderTests: XCTestCase {
  func testImageNetLayoutWithSortedClassesAndLabels() throws {
    let dir = try TempDir()
    _ = try makeFolder(
      in: dir, root: "ds/train", classes: ["zebra", "Apple", "mango"], perClass: 2)
    try makeFolder(in: dir, root: "ds/val", classes: ["x"], perClass: 1)
    try dir.mkdir("ds/train/mango/nested")
    try testPattern(width: 8, height: 8, channels: 1).writePNG(
      to: dir.path + "/ds/train/mango/nested/a.PNG")
    try dir.write("ds/train/mango/readme.txt", Array("notes".utf8))
    try dir.write("ds/train/mango/.hidden.jpg", [1, 2, 3])
    let folder = try ImageFolder(path: dir.path + "/ds")
    XCTAssertEqual(folder.root, dir.path + "/ds/train")
    XCTAssertEqual(folder.classes, ["Apple", "mango", "zebra"])  // code-point order
    XCTAssertEqual(folder.count, 7)
    XCTAssertEqual(folder.labels, [0, 0, 1, 1, 1, 2, 2])
    XCTAssertEqual(
      (0..<folder.count).map { folder.relativePath($0) },
      [
        "Apple/img0.png", "Apple/img1.jpg", "mango/img0.png", "mango/img1.jpg",
        "mango/nested/a.PNG", "zebra/img0.png", "zebra/img1.jpg",
      ])
    XCTAssertEqual(
      folder.ignored, [SkippedFile(path: "mango/readme.txt", reason: "not a .jpg/.jpeg/.png file")])
    // Plain layout: ROOT/<class>/*.
    let val = try ImageFolder(path: dir.path + "/ds/val/")
    XCTAssertEqual(val.classes, ["x"])
    XCTAssertEqual(val.count, 1)
  }

  func testMissingOrEmptyFoldersAreOneClearError() throws {
    let dir = try TempDir()
    func message(_ path: String) -> String {
      do {
        _ = try ImageFolder(path: path)
        return "opened"
      } catch { return error.message }
    }
    XCTAssertEqual(message(dir.path + "/nope"), "data folder '\(dir.path)/nope' does not exist")
    try dir.mkdir("empty")
    XCTAssertTrue(message(dir.path + "/empty").hasPrefix("no class folders in '\(dir.path)/empty'"))
    try dir.mkdir("noimages/cat")
    try dir.write("noimages/cat/a.txt", [1])
    XCTAssertEqual(
      message(dir.path + "/noimages"),
      "no JPEG or PNG images under '\(dir.path)/noimages' (1 class folders)")
    try dir.write("file", [1])
    XCTAssertEqual(message(dir.path + "/file"), "data path '\(dir.path)/file' is not a folder")
  }
}
