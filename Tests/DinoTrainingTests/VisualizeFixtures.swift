import DinoData
import Foundation

/// Writes `perClass` noisy grey PNGs (sizes vary) per class under `dir/<class>/i.png`, class
/// `c`'s pixels around 40 + 60·c, and returns `dir`.
@discardableResult
func writeGreyFolder(_ dir: String, classes: [String], perClass: Int, seed: UInt64) throws
  -> String
{
  var state = seed | 1
  for (c, name) in classes.enumerated() {
    try FileManager.default.createDirectory(
      atPath: "\(dir)/\(name)", withIntermediateDirectories: true)
    for i in 0..<perClass {
      let (width, height) = (16 + i, 17 + 2 * i)
      let pixels = (0..<width * height).map { _ -> UInt8 in
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return UInt8(40 + 60 * c + Int(state >> 59))
      }
      try Image(width: width, height: height, channels: 1, pixels: pixels).writePNG(
        to: "\(dir)/\(name)/\(i).png")
    }
  }
  return dir
}
