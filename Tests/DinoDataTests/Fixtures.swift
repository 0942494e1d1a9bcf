import DinoData
import Foundation
import XCTest

/// A temporary directory removed when the object goes away.
final class TempDir {
  let path: String

  init() throws {
    var template = Array((NSTemporaryDirectory() + "/dino-data-XXXXXX").utf8CString)
    guard let made = mkdtemp(&template) else { throw DataError("mkdtemp failed") }
    path = String(cString: made)
  }

  deinit { try? FileManager.default.removeItem(atPath: path) }

  /// Creates a sub-directory (with parents) and returns its path.
  @discardableResult
  func mkdir(_ relative: String) throws -> String {
    let full = path + "/" + relative
    try FileManager.default.createDirectory(atPath: full, withIntermediateDirectories: true)
    return full
  }

  /// Writes raw bytes to a file.
  func write(_ relative: String, _ bytes: [UInt8]) throws {
    try Data(bytes).write(to: URL(fileURLWithPath: path + "/" + relative))
  }
}

/// A deterministic smooth test picture with some texture (so crops differ).
func testPattern(width: Int, height: Int, channels: Int, seed: Int = 0) -> Image {
  var pixels = [UInt8](repeating: 0, count: width * height * channels)
  for y in 0..<height {
    for x in 0..<width {
      for c in 0..<channels {
        let fx = Double(x) / Double(max(width, 1))
        let fy = Double(y) / Double(max(height, 1))
        let v =
          128 + 90 * sin(6.0 * fx + Double(c + seed)) * cos(4.0 * fy - Double(seed))
          + Double(((x * 7 + y * 13 + c * 29 + seed * 31) % 17) - 8)
        pixels[(y * width + x) * channels + c] = UInt8(max(0, min(255, v.rounded())))
      }
    }
  }
  return Image(width: width, height: height, channels: channels, pixels: pixels)
}

/// Writes an image folder: `perClass` images of each class, alternating PNG and JPEG.
func makeFolder(
  in dir: TempDir, root: String, classes: [String], perClass: Int,
  width: Int = 40, height: Int = 32, channels: Int = 3
) throws -> String {
  for (k, name) in classes.enumerated() {
    try dir.mkdir("\(root)/\(name)")
    for i in 0..<perClass {
      let img = testPattern(
        width: width + i, height: height + k, channels: channels, seed: k * 100 + i)
      let base = "\(dir.path)/\(root)/\(name)/img\(i)"
      if i % 2 == 0 {
        try img.writePNG(to: base + ".png")
      } else {
        try img.writeJPEG(to: base + ".jpg", quality: 92)
      }
    }
  }
  return dir.path + "/" + root
}

/// The package root (for running tools/ scripts).
let packageRoot: String = {
  var url = URL(fileURLWithPath: #filePath)
  for _ in 0..<3 { url.deleteLastPathComponent() }
  return url.path
}()
