import ArgumentParser
import DinoFileGuard
import DinoData
import DinoRuntime
import DinoTraining
import Foundation

/// Where `knn` and `linear` get their train and val features: computed from a plan, a
/// checkpoint and two image folders, or read from two files of `dino-run features`.
struct FeatureSources: ParsableArguments {
  @Option(help: "Checkpoint or weights file with teacher.* (or student.*) tensors.")
  var checkpoint: String?

  @Option(help: "Training image folder (DIR/<class>/*).")
  var train: String?

  @Option(help: "Validation image folder (DIR/<class>/*), same classes as --train.")
  var val: String?

  @Option(help: "Training features written by `dino-run features` (instead of --train).")
  var trainFeatures: String?

  @Option(help: "Validation features written by `dino-run features` (instead of --val).")
  var valFeatures: String?

  @Flag(help: "Compute the student's features instead of the teacher's.")
  var student = false

  @Flag(help: "Baseline: the untrained network (init specs and --seed) instead of a checkpoint.")
  var untrained = false

  @Flag(help: "Baseline: the normalised pixels as features (no network) instead.")
  var pixels = false

  @Option(help: "Seed of the --untrained network's init (default: the plan's seed).")
  var untrainedSeed: UInt64?

  @Option(help: "Data loader threads.")
  var workers: Int = BatchLoader.defaultWorkers

  @Option(help: "Batch size; must equal the @features program's input batch (the default).")
  var batch: Int?

  @Option(help: "Use N training images, evenly spaced over the folder.")
  var limitTrain: Int?

  @Option(help: "Use N validation images, evenly spaced over the folder.")
  var limitVal: Int?

  /// The train and val feature sets with the same classes; `report` receives progress
  /// and skipped-file lines.
  func load(plan: String?, threads: Int, report: (String) -> Void) throws(RuntimeError)
    -> (train: FeatureFile, val: FeatureFile)
  {
    for (name, limit) in [("--limit-train", limitTrain), ("--limit-val", limitVal)]
    where (limit ?? 1) < 1 {
      throw RuntimeError("\(name) must be at least 1")
    }
    guard threads >= 1 else { throw RuntimeError("--threads must be at least 1") }
    let sets: (train: FeatureFile, val: FeatureFile)
    if trainFeatures != nil || valFeatures != nil {
      guard let trainFeatures, let valFeatures else {
        throw RuntimeError("give both --train-features and --val-features, or neither")
      }
      guard train == nil, val == nil, checkpoint == nil, !untrained, !pixels else {
        throw RuntimeError(
          "feature files replace --checkpoint, --train and --val; give one or the other")
      }
      sets = (
        try featureFile(trainFeatures, option: "--train-features"),
        try featureFile(valFeatures, option: "--val-features")
      )
      guard sets.train.dim == sets.val.dim else {
        throw RuntimeError(
          "--train-features has \(sets.train.dim) features per image, --val-features "
            + "\(sets.val.dim)")
      }
      report(
        "Features: \(sets.train.count) train, \(sets.val.count) val, dim \(sets.train.dim), "
          + "\(sets.train.classes.count) classes (read from files)")
    } else {
      guard let plan else {
        throw RuntimeError("give the plan, or --train-features and --val-features")
      }
      let weights = [checkpoint != nil, untrained, pixels].filter { $0 }.count
      guard weights == 1, let train, let val else {
        throw RuntimeError(
          "give one of --checkpoint FILE, --untrained and --pixels, with --train and --val "
            + "(or feature files)")
      }
      let graph = try loadPlan(plan)
      let extractor = try FeatureExtractor(graph: graph, threads: threads)
      if let batch, batch != extractor.batch {
        throw RuntimeError(
          "--batch \(batch): the plan's @features program takes batches of \(extractor.batch)")
      }
      let source: BackboneSource = student ? .student : .teacher
      var info = ["source": source.rawValue]
      if let checkpoint {
        try extractor.loadWeights(contentsOf: checkpoint, source: source)
        info["checkpoint"] = checkpoint
      } else if untrained {
        let initSeed = untrainedSeed ?? UInt64(max(0, graph.hyper["seed"] ?? 0))
        try extractor.loadUntrainedTeacher(graph: graph, seed: initSeed)
        info = ["source": "untrained", "seed": "\(initSeed)"]
      } else {
        extractor.pixels = true
        info = ["source": "pixels"]
      }
      let trainFolder = try imageFolder(train, option: "--train")
      let valFolder = try imageFolder(val, option: "--val")
      try Self.requireSameClasses(trainFolder.classes, valFolder.classes)
      let start = Date()
      sets = (
        try extractor.featureFile(
          trainFolder, workers: workers, limit: limitTrain, info: info, skipped: report),
        try extractor.featureFile(
          valFolder, workers: workers, limit: limitVal, info: info, skipped: report)
      )
      report(
        "Features: \(sets.train.count) train, \(sets.val.count) val, dim "
          + "\(extractor.featureDim), "
          + "\(trainFolder.classes.count) classes "
          + "(\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
    }
    try Self.requireSameClasses(sets.train.classes, sets.val.classes)
    return sets
  }

  /// Declares the files and folders these sources read (for `checkOutputs`).
  func declareReads(_ outputs: inout OutputGuard, plan: String?) {
    if let plan { outputs.reads(file: plan, as: "plan") }
    if let checkpoint { outputs.reads(file: checkpoint, as: "--checkpoint") }
    if let train { outputs.reads(folder: train, as: "--train") }
    if let val { outputs.reads(folder: val, as: "--val") }
    if let trainFeatures { outputs.reads(file: trainFeatures, as: "--train-features") }
    if let valFeatures { outputs.reads(file: valFeatures, as: "--val-features") }
  }

  /// Train and val must name the same classes in the same order.
  static func requireSameClasses(_ a: [String], _ b: [String]) throws(RuntimeError) {
    guard a != b else { return }
    throw RuntimeError(
      "the class folders of --train (\(a.count)) and --val (\(b.count)) differ: "
        + firstDifference(a, b))
  }

  /// The first class name one list has and the other lacks.
  private static func firstDifference(_ a: [String], _ b: [String]) -> String {
    if let x = a.first(where: { !b.contains($0) }) { return "'\(x)' is only in --train" }
    if let x = b.first(where: { !a.contains($0) }) { return "'\(x)' is only in --val" }
    return "same names, different order"
  }
}
