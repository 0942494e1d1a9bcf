import DinoFileGuard
import Foundation
import XCTest

/// OutputGuard and NoFollowAppend on real files, links and FIFOs.
final class OutputGuardTests: XCTestCase {
  private func folder() throws -> String {
    let path = NSTemporaryDirectory() + "dino-guard-" + UUID().uuidString
    try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    addTeardownBlock { try? FileManager.default.removeItem(atPath: path) }
    return path
  }

  private func refusal(_ body: () throws(OutputGuardError) -> Void) -> String? {
    do {
      try body()
      return nil
    } catch {
      return error.message
    }
  }

  func testInputsAreRecognisedByIdentity() throws {
    let dir = try folder()
    try Data("in".utf8).write(to: URL(fileURLWithPath: dir + "/in.bin"))
    try FileManager.default.linkItem(atPath: dir + "/in.bin", toPath: dir + "/hard.bin")
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/soft.bin", withDestinationPath: "in.bin")
    var outputs = OutputGuard()
    outputs.reads(file: dir + "/in.bin", as: "--inputs")
    outputs.reads(file: dir + "/missing.bin", as: "--params")
    for path in ["in.bin", "hard.bin", "soft.bin", "./in.bin"] {
      XCTAssertEqual(
        refusal { () throws(OutputGuardError) in
          try outputs.check(output: dir + "/" + path, as: "-o")
        },
        "-o '\(dir)/\(path)' is the same file as the input --inputs '\(dir)/in.bin': "
          + "writing it would destroy the input; choose another output path")
    }
    XCTAssertNil(
      refusal { () throws(OutputGuardError) in
        try outputs.check(output: dir + "/new.bin", as: "-o")
      })
    XCTAssertEqual(
      refusal { () throws(OutputGuardError) in
        try outputs.check(output: dir + "/./new.bin", as: "--params-out")
      },
      "--params-out '\(dir)/./new.bin' is the same file as -o '\(dir)/new.bin': "
        + "give each output its own path")
    XCTAssertEqual(
      refusal { () throws(OutputGuardError) in try outputs.check(output: dir, as: "-o") },
      "-o '\(dir)' is a folder: give a file path, e.g. '\(dir)/out'")
    XCTAssertEqual(mkfifo(dir + "/fifo", 0o644), 0)
    for (path, kind) in [(dir + "/fifo", "FIFO"), ("/dev/null", "character device")] {
      XCTAssertEqual(
        refusal { () throws(OutputGuardError) in try outputs.check(output: path, as: "-o") },
        "-o '\(path)' is a \(kind), not a regular file: give a file path")
    }
  }

  func testDataFoldersAreProtectedAtAnyDepth() throws {
    let dir = try folder()
    try FileManager.default.createDirectory(
      atPath: dir + "/data/cls", withIntermediateDirectories: true)
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/alias", withDestinationPath: dir + "/data/cls")
    var outputs = OutputGuard()
    outputs.reads(folder: dir + "/data", as: "--data")
    for path in ["data/x.png", "data/cls/0.png", "alias/1.png", "data/new/deeper/x.png"] {
      let message = refusal { () throws(OutputGuardError) in
        try outputs.check(output: dir + "/" + path, as: "-o")
      }
      XCTAssertEqual(
        message,
        "-o '\(dir)/\(path)' is inside the data folder --data '\(dir)/data': "
          + "never write into data you read; choose a path outside it")
    }
    XCTAssertNotNil(
      refusal { () throws(OutputGuardError) in
        try outputs.check(outputFolder: dir + "/data/run", as: "--output")
      })
    XCTAssertNil(
      refusal { () throws(OutputGuardError) in
        try outputs.check(outputFolder: dir + "/run", as: "--output")
      })
    XCTAssertNil(
      refusal { () throws(OutputGuardError) in
        try outputs.check(output: dir + "/grid.png", as: "-o")
      })
  }

  func testAppendsNeverFollowLinksOrBlockOnFIFOs() throws {
    let dir = try folder()
    let target = dir + "/precious.txt"
    try Data("keep\n".utf8).write(to: URL(fileURLWithPath: target))
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/log.txt", withDestinationPath: target)
    XCTAssertEqual(
      refusal { () throws(OutputGuardError) in
        try NoFollowAppend.append("x\n", to: dir + "/log.txt")
      },
      "\(dir)/log.txt is a symbolic link: refusing to write through it; remove the link")
    XCTAssertNotNil(
      refusal { () throws(OutputGuardError) in
        try NoFollowAppend.checkAppendable(dir + "/log.txt")
      })
    XCTAssertEqual(try String(contentsOfFile: target, encoding: .utf8), "keep\n")

    XCTAssertEqual(mkfifo(dir + "/fifo.txt", 0o644), 0)
    XCTAssertEqual(
      refusal { () throws(OutputGuardError) in
        try NoFollowAppend.append("x\n", to: dir + "/fifo.txt")
      },
      "\(dir)/fifo.txt is a FIFO, not a regular file: remove it")

    try NoFollowAppend.append("a\n", to: dir + "/real.txt")
    try NoFollowAppend.append("b\n", to: dir + "/real.txt")
    XCTAssertEqual(try String(contentsOfFile: dir + "/real.txt", encoding: .utf8), "a\nb\n")
  }
}
