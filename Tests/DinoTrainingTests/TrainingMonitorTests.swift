import DinoData
import DinoIR
import DinoPlan
import Foundation
import XCTest

import DinoRuntime
import _DinoTestSupport
@testable import DinoTraining

/// `TrainingMonitor`: log.jsonl with every field finite, curves.png a readable PNG, the
/// teacher warnings, plans without the statistics, and log files that refuse symlinks.
final class TrainingMonitorTests: XCTestCase {
  static let fields = [
    "iteration", "epoch", "steps", "loss", "lr", "wd", "momentum", "teacher_temp",
    "teacher_entropy", "teacher_mean_entropy", "kl", "center_norm", "images_per_s",
    "data_wait", "ln_k",
  ]

  /// Trains the tiny plan (`graph`) on 10 generated images; returns the output folder.
  func train(_ graph: Graph, in dir: String, logEvery: Int = 2) throws -> String {
    let images = try TrainTests.makeImages(in: dir, perClass: 5)
    var options = TrainingOptions(data: images)
    options.output = dir + "/run"
    options.workers = 1
    options.logEvery = logEvery
    try TrainingRun(graph: graph, options: options).run { _ in }
    return options.output
  }

  /// The log.jsonl objects.
  func objects(_ path: String) throws -> [[String: Any]] {
    let text = try String(contentsOfFile: path, encoding: .utf8)
    return try text.split(separator: "\n").map {
      try XCTUnwrap(JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: Any])
    }
  }

  func testLogJSONLCarriesEveryFieldAndCurvesIsAPNG() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let output = try train(try PlanReader.read(contentsOf: plan), in: dir)

    let lines = try objects(output + "/log.jsonl")
    // 5 iterations per epoch, logged at 0, 2, 4 (the last) of each of the two epochs.
    XCTAssertEqual(lines.compactMap { $0["iteration"] as? Int }, [0, 2, 4, 5, 7, 9])
    XCTAssertEqual(lines.compactMap { $0["steps"] as? Int }, [1, 2, 2, 1, 2, 2])
    for line in lines {
      XCTAssertEqual(Set(line.keys), Set(Self.fields), "\(line)")
      for key in Self.fields {
        let value = try XCTUnwrap((line[key] as? NSNumber)?.doubleValue, "\(key) in \(line)")
        XCTAssertTrue(value.isFinite, "\(key) = \(value)")
      }
      let number = { (key: String) in (line[key] as! NSNumber).doubleValue }
      XCTAssertEqual(number("ln_k"), log(32), accuracy: 1e-12)
      XCTAssertEqual(number("kl"), number("loss") - number("teacher_entropy"), accuracy: 1e-9)
      XCTAssertGreaterThan(number("teacher_entropy"), 0)
      XCTAssertLessThanOrEqual(number("teacher_entropy"), number("ln_k") + 1e-5)
      XCTAssertGreaterThanOrEqual(
        number("teacher_mean_entropy"), number("teacher_entropy") - 1e-5)  // concavity
      XCTAssertLessThanOrEqual(number("teacher_mean_entropy"), number("ln_k") + 1e-5)
      XCTAssertGreaterThan(number("images_per_s"), 0)
      XCTAssertGreaterThanOrEqual(number("center_norm"), 0)
    }

    let curves = try Image(contentsOf: output + "/curves.png")
    XCTAssertEqual([curves.width, curves.height, curves.channels], [720, 400, 3])
    var colours = Set<[UInt8]>()
    for i in stride(from: 0, to: curves.pixels.count, by: 3) {
      colours.insert(Array(curves.pixels[i..<(i + 3)]))
    }
    for colour: [UInt8] in [[31, 119, 180], [255, 127, 14], [214, 39, 40]] {
      XCTAssertTrue(colours.contains(colour), "no pixel of colour \(colour)")
    }
    XCTAssertFalse(
      try FileManager.default.contentsOfDirectory(atPath: output).contains { $0.contains(".tmp") })
  }

  /// A plan compiled before the statistics existed trains; its lines leave them out.
  func testPlanWithoutStatisticsTrainsAndOmitsThem() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    var graph = try PlanReader.read(contentsOf: plan)
    let index = try XCTUnwrap(graph.programIndex("train_step"))
    let statistics: Set = ["teacher_entropy", "teacher_mean_entropy", "center_norm"]
    graph.programs[index].outputs.removeAll { statistics.contains($0.name) }
    let output = try train(graph, in: dir, logEvery: 100)
    let lines = try objects(output + "/log.jsonl")
    XCTAssertEqual(lines.count, 4)  // iterations 0 and 4 of two epochs
    for line in lines {
      XCTAssertEqual(
        Set(line.keys), Set(Self.fields).subtracting(statistics.union(["kl"])), "\(line)")
    }
    XCTAssertEqual(try Image(contentsOf: output + "/curves.png").width, 720)
  }

  func testTeacherHealthWarnsOncePerEpisode() {
    var health = TeacherHealth(lnK: log(1024))
    let flat = [6.9, 6.85, 6.92]
    let sharp = [3.0, 2.5, 4.0]
    let spread = [5.0, 5.5, 6.0]
    var lines = health.warnings(first: 0, last: 2, entropies: flat, meanEntropies: spread)
    XCTAssertEqual(lines.count, 1)
    XCTAssertTrue(lines[0].hasPrefix("warning: iterations 0-2: the teacher is within 2 % of "))
    XCTAssertTrue(lines[0].contains("6.850 of ln K = 6.931 nats"), lines[0])
    XCTAssertEqual(health.warnings(first: 3, last: 5, entropies: flat, meanEntropies: spread), [])
    // One step below 0.98 ln K in the window: not uniform for the whole window.
    XCTAssertEqual(
      health.warnings(first: 6, last: 8, entropies: [6.9, 6.5, 6.9], meanEntropies: spread), [])
    XCTAssertEqual(
      health.warnings(first: 9, last: 11, entropies: flat, meanEntropies: spread).count, 1)
    lines = health.warnings(first: 12, last: 14, entropies: sharp, meanEntropies: [0.1, 0.2, 0.3])
    XCTAssertEqual(lines.count, 1)
    XCTAssertTrue(lines[0].contains("the teacher has collapsed"), lines[0])
    XCTAssertEqual(
      health.warnings(first: 15, last: 17, entropies: sharp, meanEntropies: [0.1, 0.4, 0.1]), [])
  }

  /// A symbolic link planted at log.jsonl is refused, not written through.
  func testLogFilesAreNotOpenedThroughSymlinks() throws {
    let dir = try temporaryDirectory()
    let plan = try StepParityTests.compile(TrainTests.tiny, in: dir)
    let images = try TrainTests.makeImages(in: dir, perClass: 2)
    try FileManager.default.createDirectory(
      atPath: dir + "/run", withIntermediateDirectories: true)
    try Data("keep\n".utf8).write(to: URL(fileURLWithPath: dir + "/victim"))
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/run/log.jsonl", withDestinationPath: dir + "/victim")
    let result = try DinoTool.run(
      "dino-run", [plan, "--data", images, "--output", dir + "/run", "--threads", "1"])
    XCTAssertEqual(result.status, 1, result.stderr)
    XCTAssertEqual(
      result.stderr,
      "dino-run: error: \(dir)/run/log.jsonl is a symbolic link: refusing to write through "
        + "it; remove the link\n")
    XCTAssertEqual(try String(contentsOfFile: dir + "/victim", encoding: .utf8), "keep\n")
  }

  func testCurveTicksAreRound() {
    XCTAssertEqual(CurvePlot.ticks(lo: 0, hi: 11), [0, 5, 10, 15])
    XCTAssertEqual(CurvePlot.ticks(lo: 0, hi: 7.2), [0, 2, 4, 6, 8])
    XCTAssertEqual(CurvePlot.label(0.30000000000000004, step: 0.1), "0.3")
    XCTAssertEqual(CurvePlot.label(1500, step: 500), "1500")
  }
}
