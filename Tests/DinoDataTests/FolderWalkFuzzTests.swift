import DinoData
import Foundation
import XCTest
import _DinoTestSupport

/// ImageFolder on random trees of folders, images, other files, FIFOs and symbolic links
/// (to ancestors, siblings, files, devices, nowhere): every scan ends within the time limit
/// or is refused in one line, lists each image file once, and lists only regular files.
final class FolderWalkFuzzTests: XCTestCase {
  /// A tiny valid PNG for the trees' images.
  static let png = HostileFolderTests.palettePNG

  /// Builds a random tree under `root` (two to four class folders, three levels at most).
  static func build(_ root: String, _ random: inout MutationFuzzer) throws {
    let files = FileManager.default
    var folders = [root]
    for c in 0..<(2 + random.below(3)) {
      let path = root + "/class\(c)"
      try files.createDirectory(atPath: path, withIntermediateDirectories: true)
      folders.append(path)
    }
    for _ in 0..<(4 + random.below(20)) {
      let parent = folders[1 + random.below(folders.count - 1)]
      let name = parent + "/e\(random.below(1000))"
      let taken = [name, name + ".png", name + ".txt"].contains {
        files.fileExists(atPath: $0) || (try? files.destinationOfSymbolicLink(atPath: $0)) != nil
      }
      if taken { continue }
      switch random.below(10) {
      case 0, 1:
        try files.createDirectory(atPath: name, withIntermediateDirectories: false)
        if name.split(separator: "/").count < root.split(separator: "/").count + 4 {
          folders.append(name)
        }
      case 2, 3, 4: try Data(png).write(to: URL(fileURLWithPath: name + ".png"))
      case 5: try Data("notes".utf8).write(to: URL(fileURLWithPath: name + ".txt"))
      case 6: _ = mkfifo(name + ".png", 0o644)
      default:
        let targets =
          ["..", "../..", ".", "/dev/null", "/dev/zero", "nowhere", root]
          + folders + folders.map { $0 + "/e0.png" }
        try files.createSymbolicLink(
          atPath: name + (random.below(2) == 0 ? ".png" : ""),
          withDestinationPath: targets[random.below(targets.count)])
      }
    }
  }

  func testRandomTreesScanOnceAndEnd() throws {
    var random = MutationFuzzer(seed: MutationFuzzer.seed(default: 15))
    let seconds = MutationFuzzer.seconds(default: 3)
    let end = Date().addingTimeInterval(seconds)
    var trees = 0
    var images = 0
    while Date() < end {
      let dir = try TempDir()
      let root = dir.path + "/data"
      try Self.build(root, &random)
      trees += 1
      let done = DispatchSemaphore(value: 0)
      nonisolated(unsafe) var scanned: Result<ImageFolder, DataError>?
      DispatchQueue.global().async {
        scanned = Result { () throws(DataError) in try ImageFolder(path: root) }
        done.signal()
      }
      guard done.wait(timeout: .now() + 10) == .success else {
        return XCTFail("tree \(trees) of seed \(random.seed): the scan ran over 10 s")
      }
      guard case .success(let folder) = scanned else { continue }  // refused in one line
      let real = folder.paths.map { path -> String in
        var info = stat()
        XCTAssertEqual(stat(path, &info), 0, path)
        XCTAssertEqual(info.st_mode & S_IFMT, S_IFREG, "\(path) is not a regular file")
        return "\(info.st_dev):\(info.st_ino)"
      }
      XCTAssertEqual(Set(real).count, real.count, "tree \(trees): an image is counted twice")
      images += folder.count
    }
    print("fuzz folder walk seed \(random.seed): \(trees) trees, \(images) images")
    XCTAssertGreaterThan(trees, 1)
  }
}
