import ArgumentParser
import DinoFileGuard
import DinoData
import DinoRuntime
import DinoTraining
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
        per k: `20-NN classifier result: Top1: xx.xx, Top5: yy.yy`. --train-features and \
        --val-features read features written by `dino-run features` instead.
        """)

    @Argument(help: "The compiled plan (plan.bin); not needed with feature files.")
    var plan: String?

    @OptionGroup var sources: FeatureSources

    @Option(help: "Neighbour counts, comma-separated.")
    var k: String = "10,20,100,200"

    @Option(help: "Temperature T of the exp(s/T) votes.")
    var temperature: Double = 0.07

    @OptionGroup var pixelBudget: PixelBudgetOption

    @OptionGroup var kernels: ThreadsOption

    @Option(help: "Write trainfeat, testfeat and labels (safetensors) into this folder.")
    var dumpFeatures: String?

    func execute() throws(RuntimeError) {
      let ks = k.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
      guard !ks.isEmpty, ks.allSatisfy({ ($0 ?? 0) >= 1 }) else {
        throw RuntimeError("--k must be positive integers separated by commas, got '\(k)'")
      }
      _ = try kernels.checked()
      try checkOutputs { (outputs) throws(OutputGuardError) in
        sources.declareReads(&outputs, plan: plan)
        if let dumpFeatures {
          try outputs.check(outputFolder: dumpFeatures, as: "--dump-features")
          for name in ["trainfeat", "testfeat", "labels"] {
            try outputs.check(
              output: "\(dumpFeatures)/\(name).safetensors", as: "--dump-features")
          }
        }
      }
      try pixelBudget.apply()
      let report: (String) -> Void = { line in
        print(line)
        fflush(nil)
      }
      let (trainSet, valSet) = try sources.load(
        plan: plan, threads: kernels.threads, report: report)
      let dim = trainSet.dim
      if let dumpFeatures {
        try dump(
          (trainSet.features, trainSet.labels), (valSet.features, valSet.labels), dim: dim,
          to: dumpFeatures)
      }
      let classifier = try KNNClassifier(
        features: trainSet.features, labels: trainSet.labels, dim: dim,
        classCount: trainSet.classes.count)
      let results = try classifier.evaluate(
        testFeatures: valSet.features, testLabels: valSet.labels, ks: ks.map { $0! },
        temperature: temperature)
      for result in results { report(result.line) }
    }

    /// Writes DIR/trainfeat.safetensors, DIR/testfeat.safetensors (tensor `features`,
    /// L2-normalised, as the official dump) and DIR/labels.safetensors (`train`, `test`).
    private func dump(
      _ trainSet: (features: [Float], labels: [Int32]),
      _ valSet: (features: [Float], labels: [Int32]),
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
