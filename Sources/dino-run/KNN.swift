import ArgumentParser
import DinoFileGuard
import DinoData
import DinoRuntime
import Foundation

extension DinoRunCommand {
  /// `dino-run knn`: official DINO's weighted k-NN evaluation of the teacher backbone.
  struct KNN: Subcommand {
    static let configuration = CommandConfiguration(
      commandName: "knn",
      abstract: "Weighted k-NN evaluation of a checkpoint's teacher features (eval_knn.py).",
      discussion: """
        Features are the plan's @features program (teacher backbone CLS after the final \
        norm) with the checkpoint's teacher.* weights, over images resized (shorter side \
        round(G·256/224), bicubic), centre-cropped to the plan's global size G and \
        normalised. Train and val features are L2-normalised; for each k the k most \
        cosine-similar training images vote for their class with weight exp(s/T). One line \
        per k: `20-NN classifier result: Top1: xx.xx, Top5: yy.yy`. Baselines instead of \
        --checkpoint: --untrained (the network the plan's init specs give with --seed, as \
        training starts) or --pixels (the normalised pixels themselves as features).
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Checkpoint or weights file with teacher.* tensors.")
    var checkpoint: String?

    @Flag(help: "Evaluate the untrained network (init specs and --seed) instead of a checkpoint.")
    var untrained = false

    @Flag(help: "Evaluate the normalised pixels as features (no network) instead.")
    var pixels = false

    @Option(help: "Seed of the untrained network's init (default: the plan's seed).")
    var seed: UInt64?

    @Option(help: "Training image folder (DIR/<class>/*).")
    var train: String

    @Option(help: "Validation image folder (DIR/<class>/*), same classes as --train.")
    var val: String

    @Option(help: "Neighbour counts, comma-separated.")
    var k: String = "10,20,100,200"

    @Option(help: "Temperature T of the exp(s/T) votes.")
    var temperature: Double = 0.07

    @OptionGroup var pixelBudget: PixelBudgetOption

    @OptionGroup var kernels: ThreadsOption

    @Option(help: "Data loader threads.")
    var workers: Int = BatchLoader.defaultWorkers

    @Option(help: "Batch size; must equal the @features program's input batch (the default).")
    var batch: Int?

    @Option(help: "Use N training images, evenly spaced over the folder.")
    var limitTrain: Int?

    @Option(help: "Use N validation images, evenly spaced over the folder.")
    var limitVal: Int?

    @Option(help: "Write trainfeat, testfeat and labels (safetensors) into this folder.")
    var dumpFeatures: String?

    func execute() throws(RuntimeError) {
      let ks = k.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard !ks.isEmpty, ks.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw RuntimeError("--k must be positive integers separated by commas, got '\(k)'")
      }
      for (name, limit) in [("--limit-train", limitTrain), ("--limit-val", limitVal)]
      where (limit ?? 1) < 1 {
        throw RuntimeError("\(name) must be at least 1")
      }
      _ = try kernels.checked()
      let sources = [checkpoint != nil, untrained, pixels].filter { $0 }.count
      guard sources == 1 else {
        throw RuntimeError(
          "give exactly one of --checkpoint FILE, --untrained and --pixels (got \(sources))")
      }
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        if let checkpoint { outputs.reads(file: checkpoint, as: "--checkpoint") }
        outputs.reads(folder: train, as: "--train")
        outputs.reads(folder: val, as: "--val")
        if let dumpFeatures {
          try outputs.check(outputFolder: dumpFeatures, as: "--dump-features")
          for name in ["trainfeat", "testfeat", "labels"] {
            try outputs.check(
              output: "\(dumpFeatures)/\(name).safetensors", as: "--dump-features")
          }
        }
      }
      try pixelBudget.apply()
      let graph = try loadPlan(plan)
      let extractor = try FeatureExtractor(graph: graph, threads: kernels.threads)
      if let batch, batch != extractor.batch {
        throw RuntimeError(
          "--batch \(batch): the plan's @features program takes batches of \(extractor.batch)")
      }
      if let checkpoint {
        try extractor.loadTeacher(contentsOf: checkpoint)
      } else if untrained {
        let planSeed = UInt64(max(0, graph.hyper["seed"] ?? 0))
        try extractor.loadUntrainedTeacher(graph: graph, seed: seed ?? planSeed)
      } else {
        extractor.pixels = true
      }
      let trainFolder = try Self.folder(train, option: "--train")
      let valFolder = try Self.folder(val, option: "--val")
      guard trainFolder.classes == valFolder.classes else {
        throw RuntimeError(
          "the class folders of --train (\(trainFolder.classes.count)) and --val "
            + "(\(valFolder.classes.count)) differ: "
            + Self.firstDifference(trainFolder.classes, valFolder.classes))
      }
      let report: (String) -> Void = { line in
        print(line)
        fflush(nil)
      }
      let start = Date()
      let trainSet = try extractor.extract(
        trainFolder, workers: workers, limit: limitTrain, skipped: report)
      let valSet = try extractor.extract(
        valFolder, workers: workers, limit: limitVal, skipped: report)
      report(
        "Features: \(trainSet.labels.count) train, \(valSet.labels.count) val, dim "
          + "\(extractor.featureDim), \(trainFolder.classes.count) classes "
          + "(\(String(format: "%.1f", Date().timeIntervalSince(start))) s)")
      if let dumpFeatures {
        try dump(trainSet, valSet, dim: extractor.featureDim, to: dumpFeatures)
      }
      let classifier = try KNNClassifier(
        features: trainSet.features, labels: trainSet.labels, dim: extractor.featureDim,
        classCount: trainFolder.classes.count)
      let results = try classifier.evaluate(
        testFeatures: valSet.features, testLabels: valSet.labels, ks: ks.map { $0! },
        temperature: temperature)
      for result in results { report(result.line) }
    }

    /// Scans an image folder; an error names the option.
    private static func folder(_ path: String, option: String) throws(RuntimeError) -> ImageFolder {
      do {
        return try ImageFolder(path: path)
      } catch {
        throw RuntimeError("\(option): \(error.message)")
      }
    }

    /// The first class name one list has and the other lacks.
    private static func firstDifference(_ a: [String], _ b: [String]) -> String {
      if let x = a.first(where: { !b.contains($0) }) { return "'\(x)' is only in --train" }
      if let x = b.first(where: { !a.contains($0) }) { return "'\(x)' is only in --val" }
      return "same names, different order"
    }

    /// Writes DIR/trainfeat.safetensors, DIR/testfeat.safetensors (tensor `features`,
    /// L2-normalised, as the official dump) and DIR/labels.safetensors (`train`, `test`).
    private func dump(
      _ trainSet: (features: [Float], labels: [Int32]), _ valSet: (features: [Float], labels: [Int32]),
      dim: Int, to folder: String
    ) throws(RuntimeError) {
      do {
        try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
      } catch {
        throw RuntimeError("cannot create --dump-features folder '\(folder)'")
      }
      for (name, set) in [("trainfeat", trainSet), ("testfeat", valSet)] {
        var features = set.features
        KNNClassifier.l2Normalize(&features, dim: dim)
        let file = SafeTensors(tensors: [
          "features": HostTensor(shape: [set.labels.count, dim], floats: features)
        ])
        try writeTensors(file, to: "\(folder)/\(name).safetensors")
      }
      let labels = SafeTensors(tensors: [
        "train": HostTensor(shape: [trainSet.labels.count], ints: trainSet.labels),
        "test": HostTensor(shape: [valSet.labels.count], ints: valSet.labels),
      ])
      try writeTensors(labels, to: "\(folder)/labels.safetensors")
    }
  }
}
