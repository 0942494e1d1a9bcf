import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// Checkpoints and weight files that cannot be trusted: a flipped byte, a resume on other
/// data, another plan or another length.
final class HostileCheckpointTests: XCTestCase {
  func testAFlippedByteIsRefusedAtLoad() throws {
    let dir = try temporaryDirectory()
    let plan = try tinyDINOPlan(in: dir)
    let crops = dir + "/crops.safetensors"
    try tinyCrops().write(to: crops)
    let weights = dir + "/w.safetensors"
    let step = try DinoTool.run("dino-run", ["step", plan, "--crops", crops, "-o", weights])
    XCTAssertEqual(step.status, 0, step.stderr)
    let file = try SafeTensors.read(contentsOf: weights)
    XCTAssertTrue(file.metadata.keys.allSatisfy { !$0.hasPrefix("crc32:") }, "keys are hidden")

    var bytes = try Array(Data(contentsOf: URL(fileURLWithPath: weights)))
    bytes[bytes.count - 3] ^= 0x10  // inside the last tensor's data
    let damaged = dir + "/damaged.safetensors"
    try Data(bytes).write(to: URL(fileURLWithPath: damaged))
    XCTAssertThrowsError(try SafeTensors.read(contentsOf: damaged)) { error in
      XCTAssertTrue("\(error)".contains("fails its checksum"), "\(error)")
    }
    try assertRefused(
      "dino-run",
      ["step", plan, "--init", damaged, "--crops", crops, "-o", dir + "/next.safetensors"],
      "fails its checksum (CRC-32 ", unchanged: [dir + "/next.safetensors", damaged])
  }

  /// A two-iteration run, then resumes that differ in data, length or plan.
  func testResumeChecksTheRunsIdentity() throws {
    let dir = try temporaryDirectory()
    let plan = try tinyDINOPlan(in: dir)
    let images = try TrainTests.makeImages(in: dir, perClass: 2)
    let run = dir + "/run"
    let common = ["--output", run, "--threads", "1", "--workers", "1"]
    let first = try DinoTool.run(
      "dino-run", ["train", plan, "--data", images, "--iterations", "3"] + common)
    XCTAssertEqual(first.status, 0, first.stderr)
    let checkpoint = run + "/checkpoint.safetensors"
    let saved = try SafeTensors.read(contentsOf: checkpoint).metadata
    XCTAssertEqual(saved["dataset_size"], "4")
    XCTAssertEqual(saved["plan_crc32"]?.count, 8)
    let keep = [checkpoint, run + "/log.txt"]

    // One more image: the same 2 iterations per epoch, but not the same data.
    try FileManager.default.copyItem(atPath: images + "/cats/0.png", toPath: images + "/cats/9.png")
    try assertRefused(
      "dino-run",
      ["train", plan, "--data", images, "--iterations", "4", "--resume"] + common,
      "cannot resume \(checkpoint): the data differs (4 images then, 5 in \(images) now); "
        + "it spans 3 iterations, --iterations asks for 4; resume with the same plan, data "
        + "and length, or pass --force", unchanged: keep)

    let other = dir + "/other"
    try FileManager.default.createDirectory(atPath: other, withIntermediateDirectories: true)
    let otherPlan = try StepParityTests.compile(TrainTests.tiny + ["-D", "lr=0.001"], in: other)
    try assertRefused(
      "dino-run", ["train", otherPlan, "--data", images, "--resume"] + common,
      "the plan differs (CRC-32 ", unchanged: keep)

    let forced = try DinoTool.run(
      "dino-run", ["train", plan, "--data", images, "--resume", "--force"] + common)
    XCTAssertEqual(forced.status, 0, forced.stderr)
  }
}
