import DinoData
import Foundation
import XCTest

/// tools/prepare_fashion_mnist.py on Debian's dataset-fashion-mnist.
final class FashionMNISTPrepTests: XCTestCase {
  func run(_ out: String) throws -> String {
    let p = Process()
    p.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    p.arguments = ["python3", packageRoot + "/tools/prepare_fashion_mnist.py", "--out", out]
    let pipe = Pipe()
    p.standardOutput = pipe
    p.standardError = pipe
    try p.run()
    let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
    p.waitUntilExit()
    XCTAssertEqual(p.terminationStatus, 0, text)
    return text
  }

  func testPreparesSixtyThousandTrainAndTenThousandValImages() throws {
    XCTAssertTrue(
      FileManager.default.fileExists(
        atPath: "/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz"),
      "install Debian's dataset-fashion-mnist (the setup command does)")
    let dir = try TempDir()
    let out = dir.path + "/fmnist"
    let first = try run(out)
    XCTAssertTrue(first.contains("train 60000, val 10000 images in 10 classes"), first)
    let names = [
      "Ankle_boot", "Bag", "Coat", "Dress", "Pullover", "Sandal", "Shirt", "Sneaker",
      "T-shirt_top", "Trouser",
    ]
    let train = try ImageFolder(path: out)  // picks out/train
    XCTAssertEqual(train.root, out + "/train")
    XCTAssertEqual(train.count, 60000)
    XCTAssertEqual(train.classes, names)
    XCTAssertEqual(Set(train.labels).count, 10)
    let val = try ImageFolder(path: out + "/val")
    XCTAssertEqual(val.count, 10000)
    XCTAssertEqual(val.classes, names)
    // Fashion-MNIST's classes are balanced: 6000 and 1000 images each.
    XCTAssertEqual(Set((0..<10).map { c in train.labels.filter { $0 == c }.count }), [6000])
    XCTAssertEqual(Set((0..<10).map { c in val.labels.filter { $0 == c }.count }), [1000])
    let img = try Image(contentsOf: val.paths[0])
    XCTAssertEqual([img.width, img.height, img.channels], [28, 28, 1])
    // A second run sees the finished output and does nothing.
    XCTAssertTrue(try run(out).contains("already prepared"))
  }
}
