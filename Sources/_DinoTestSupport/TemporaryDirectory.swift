import Foundation
import XCTest

extension XCTestCase {
  /// A fresh empty folder under the temporary directory, removed when the test ends.
  public func temporaryDirectory() throws -> String {
    let path = NSTemporaryDirectory() + "dino-runtime-tests-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }
}
