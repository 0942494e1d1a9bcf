import DinoData
import DinoPasses
import DinoPlan
import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// `dino-run` with hostile arguments and files: outputs over inputs or inside data folders,
/// log files behind symbolic links, out-of-range overrides, non-finite tensors, absurd
/// thread counts and pixel budgets. Each is refused in one line and changes no file.
final class HostileRunTests: XCTestCase {
  /// A folder with the tiny DINO plan, random crops and two classes of images.
  private func dinoSetup() throws -> (dir: String, plan: String, crops: String, images: String) {
    let dir = try temporaryDirectory()
    let plan = try tinyDINOPlan(in: dir)
    let crops = dir + "/crops.safetensors"
    try tinyCrops().write(to: crops)
    let images = try TrainTests.makeImages(in: dir, perClass: 2)
    return (dir, plan, crops, images)
  }

  func testStepNeverWritesOverItsInputs() throws {
    let (dir, plan, crops, _) = try dinoSetup()
    for (output, role) in [(plan, "plan"), (crops, "--crops")] {
      try assertRefused(
        "dino-run", ["step", plan, "--crops", crops, "-o", output],
        "-o '\(output)' is the same file as the input \(role) '\(output)'",
        unchanged: [plan, crops])
    }
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/after.safetensors", withDestinationPath: crops)
    try assertRefused(
      "dino-run", ["step", plan, "--crops", crops, "-o", dir + "/after.safetensors"],
      "is the same file as the input --crops", unchanged: [plan, crops])
  }

  func testStepRefusesOverridesOutOfRange() throws {
    let (dir, plan, crops, _) = try dinoSetup()
    let output = dir + "/after.safetensors"
    for (option, value, text) in [
      ("--lr", "nan", "--lr nan: nan must be ≥ 0 and finite (the range of lr)"),
      ("--lr", "-1", "--lr -1.0: -1 must be ≥ 0 and finite"),
      ("--wd", "inf", "--wd inf: inf must be ≥ 0 and finite"),
      ("--momentum", "7", "--momentum 7.0: 7 must be in [0, 1] (the range of momentum_teacher)"),
      ("--teacher-temp", "0", "--teacher-temp 0.0: 0 must be > 0 and finite"),
    ] {
      try assertRefused(
        "dino-run", ["step", plan, "--crops", crops, "-o", output, "\(option)=\(value)"], text,
        unchanged: [output, plan, crops])
    }
  }

  func testNonFiniteTensorsAreRefusedAtLoad() throws {
    let (dir, plan, _, _) = try dinoSetup()
    let output = dir + "/after.safetensors"
    let badCrops = dir + "/bad-crops.safetensors"
    try tinyCrops(poison: .infinity).write(to: badCrops)
    try assertRefused(
      "dino-run", ["step", plan, "--crops", badCrops, "-o", output],
      "\(badCrops): tensor 'crop0' holds inf at element 5", unchanged: [output])

    // Weights from a good step, then one student tensor poisoned with NaN.
    let good = try DinoTool.run(
      "dino-run", ["step", plan, "--crops", dir + "/crops.safetensors", "-o", output])
    XCTAssertEqual(good.status, 0, good.stderr)
    var weights = try SafeTensors.read(contentsOf: output)
    let name = "student.backbone.cls_token"
    var values = try XCTUnwrap(weights.tensors[name]).floats
    values[0] = .nan
    weights.tensors[name] = HostTensor(shape: weights.tensors[name]!.shape, floats: values)
    let poisoned = dir + "/poisoned.safetensors"
    try weights.write(to: poisoned)
    try assertRefused(
      "dino-run",
      [
        "step", plan, "--init", poisoned, "--crops", dir + "/crops.safetensors", "-o",
        dir + "/next.safetensors",
      ],
      "\(poisoned): tensor '\(name)' holds nan at element 0",
      unchanged: [dir + "/next.safetensors"])

    // k-NN on the poisoned teacher.
    var teacherPoisoned = try SafeTensors.read(contentsOf: output)
    let teacher = "teacher.backbone.norm.weight"
    var t = try XCTUnwrap(teacherPoisoned.tensors[teacher]).floats
    t[1] = -.infinity
    teacherPoisoned.tensors[teacher] = HostTensor(
      shape: teacherPoisoned.tensors[teacher]!.shape, floats: t)
    try teacherPoisoned.write(to: poisoned)
    let images = dir + "/images"
    try assertRefused(
      "dino-run",
      ["knn", plan, "--checkpoint", poisoned, "--train", images, "--val", images, "--k", "1"],
      "tensor '\(teacher)' holds -inf at element 1")
  }

  func testExecNeverWritesOverItsInputs() throws {
    let dir = try temporaryDirectory()
    let plan = dir + "/plan.bin"
    try PlanWriter.write(try Pipeline.run(try MLPFixture.graph()), to: plan)
    let inputs = dir + "/in.safetensors"
    let count = MLPFixture.sizes.batch * MLPFixture.sizes.tokens * MLPFixture.sizes.dim
    try SafeTensors(tensors: [
      "x": HostTensor(
        shape: [MLPFixture.sizes.batch, MLPFixture.sizes.tokens, MLPFixture.sizes.dim],
        floats: randomFloats(count, seed: 1))
    ]).write(to: inputs)
    let base = ["exec", plan, "--program", "forward", "--inputs", inputs]
    try assertRefused(
      "dino-run", base + ["-o", inputs], "-o '\(inputs)' is the same file as the input --inputs",
      unchanged: [plan, inputs])
    try assertRefused(
      "dino-run",
      base + ["-o", dir + "/out.safetensors", "--params-out", dir + "/out.safetensors"],
      "--params-out '\(dir)/out.safetensors' is the same file as -o",
      unchanged: [dir + "/out.safetensors"])
    try assertRefused(
      "dino-run", base + ["-o", dir + "/out.safetensors", "--threads", "100000"],
      "--threads 100000 is outside 1...", unchanged: [dir + "/out.safetensors"])

    var poisoned = try SafeTensors.read(contentsOf: inputs)
    var x = poisoned.tensors["x"]!.floats
    x[3] = .nan
    poisoned.tensors["x"] = HostTensor(shape: poisoned.tensors["x"]!.shape, floats: x)
    try poisoned.write(to: dir + "/nan.safetensors")
    try assertRefused(
      "dino-run",
      [
        "exec", plan, "--program", "forward", "--inputs", dir + "/nan.safetensors", "-o",
        dir + "/out.safetensors",
      ],
      "tensor 'x' holds nan at element 3", unchanged: [dir + "/out.safetensors"])

    // A plan whose hyper-parameters were never checked by the DSL (written directly).
    var graph = try Pipeline.run(try MLPFixture.graph())
    graph.hyper["momentum_teacher"] = 7
    try PlanWriter.write(graph, to: dir + "/odd.bin")
    try assertRefused(
      "dino-run",
      [
        "exec", dir + "/odd.bin", "--program", "forward", "--inputs", inputs, "-o",
        dir + "/out.safetensors",
      ],
      "\(dir)/odd.bin: hyper-parameter momentum_teacher = 7: must be in [0, 1]; recompile",
      unchanged: [dir + "/out.safetensors"])
  }

  func testNothingIsWrittenIntoADataFolder() throws {
    let (dir, plan, _, images) = try dinoSetup()
    let inside = images + "/cats/0.png"
    try assertRefused(
      "dino-run", ["crops", plan, "--data", images, "-o", inside],
      "-o '\(inside)' is inside the data folder --data '\(images)'", unchanged: [inside])
    try assertRefused(
      "dino-run", ["crops", plan, "--data", images, "-o", images + "/cats/new.png"],
      "is inside the data folder", unchanged: [images + "/cats/new.png"])
    // Through a symbolic link to a class folder.
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/alias", withDestinationPath: images + "/dogs")
    try assertRefused(
      "dino-run", ["crops", plan, "--data", images, "-o", dir + "/alias/grid.png"],
      "is inside the data folder", unchanged: [images + "/dogs/grid.png"])
    try assertRefused(
      "dino-run", ["train", plan, "--data", images, "--output", images + "/run"],
      "--output '\(images)/run' is inside the data folder --data",
      unchanged: [images + "/run/log.txt"])
    try assertRefused(
      "dino-run",
      [
        "knn", plan, "--untrained", "--train", images, "--val", images, "--dump-features",
        images + "/cats",
      ],
      "--dump-features '\(images)/cats' is inside the data folder --train")
    try assertRefused(
      "dino-run", ["crops", plan, "--data", images, "-o", dir + "/grid.png", "--max-pixels", "0"],
      "--max-pixels 0 is outside 1...1073741824", unchanged: [dir + "/grid.png"])
  }

  /// FIFOs and devices given as input files are refused without blocking or reading forever.
  func testSpecialFilesAsInputsAreRefused() throws {
    let (dir, plan, crops, _) = try dinoSetup()
    XCTAssertEqual(mkfifo(dir + "/fifo", 0o644), 0)
    let output = dir + "/after.safetensors"
    try assertRefused(
      "dino-run", ["step", dir + "/fifo", "--crops", crops, "-o", output],
      "\(dir)/fifo: is not a regular file (hint: pass the plan.bin", unchanged: [output])
    try assertRefused(
      "dino-run", ["step", "/dev/zero", "--crops", crops, "-o", output],
      "/dev/zero: is not a regular file (hint: pass the plan.bin", unchanged: [output])
    try assertRefused(
      "dino-run", ["step", plan, "--init", dir + "/fifo", "--crops", crops, "-o", output],
      "\(dir)/fifo: not a regular file", unchanged: [output])
    try assertRefused(
      "dino-run", ["step", plan, "--crops", "/dev/zero", "-o", output],
      "/dev/zero: not a regular file", unchanged: [output])
    try assertRefused(
      "dinoc", ["compile", dir + "/fifo", "-o", dir + "/p.bin"],
      "error: \(dir)/fifo is a FIFO, not a model.swift file", unchanged: [dir + "/p.bin"])
    try FileManager.default.createSymbolicLink(
      atPath: dir + "/zero.ir", withDestinationPath: "/dev/zero")
    try assertRefused(
      "dinoc", ["dump", dir + "/zero.ir"], "error: \(dir)/zero.ir is a character device")
  }

  /// OUTPUT/log.txt as a symbolic link (to a file the user cares about) is refused before
  /// training; the link's target is untouched.
  func testLogBehindASymbolicLinkIsRefused() throws {
    let (dir, plan, _, images) = try dinoSetup()
    let run = dir + "/run"
    try FileManager.default.createDirectory(atPath: run, withIntermediateDirectories: true)
    let precious = dir + "/precious.txt"
    try "keep me\n".write(toFile: precious, atomically: true, encoding: .utf8)
    try FileManager.default.createSymbolicLink(
      atPath: run + "/log.txt", withDestinationPath: precious)
    try assertRefused(
      "dino-run", ["train", plan, "--data", images, "--output", run, "--threads", "1"],
      "\(run)/log.txt is a symbolic link: refusing to write through it; remove the link",
      unchanged: [precious, run + "/checkpoint.safetensors"])
  }
}
