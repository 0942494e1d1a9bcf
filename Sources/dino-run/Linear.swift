import ArgumentParser
import DinoRuntime
import Foundation

extension DinoRunCommand {
  /// `dino-run linear`: official DINO's linear evaluation on frozen, precomputed features.
  struct Linear: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Linear-probe evaluation of a checkpoint's features (eval_linear.py).",
      discussion: """
        Trains a linear layer on the frozen train features and reports top-1 / top-5 on \
        the val features. The layer is a probe plan compiled by dinoc from \
        Samples/linear_probe.swift (-D features=<backbone dim> -D classes=<class folders> \
        [-D batch=128]): its @gradients program (cross-entropy, gradients by the compiler's \
        autodiff) and @logits; dino-run applies SGD with momentum 0.9, weight decay 0 and \
        the learning rate lr·batch/256 on a cosine to 0 over the epochs, as official. \
        Departures, for CPU budgets: the features are the @features program's (the final \
        CLS token: n = 1 block, no average-pooled patch tokens, where official concatenates \
        the last 4 for ViT-S), computed once with the evaluation transform (no augmentation \
        of the training images), so that each epoch is a pass over a feature matrix. \
        Prints `Linear probe result: Top1: xx.xx, Top5: yy.yy`; -o writes it as JSON.
        """)

    @Argument(help: "The compiled DINO plan (plan.bin); not needed with feature files.")
    var plan: String?

    @Option(help: "The probe plan compiled from Samples/linear_probe.swift.")
    var probe: String

    @OptionGroup var sources: FeatureSources

    @Option(help: "Epochs over the training features.")
    var epochs: Int = 100

    @Option(help: "Base learning rate, scaled by batch/256.")
    var lr: Double = 0.001

    @Option(help: "SGD momentum.")
    var momentum: Double = 0.9

    @Option(help: "Seed of the layer's init and of the row order.")
    var seed: UInt64 = 0

    @Option(help: "Print a line every K epochs.")
    var logEvery: Int = 10

    @Option(name: .shortAndLong, help: "Write the result as JSON to this file.")
    var output: String?

    @OptionGroup var kernels: ThreadsOption

    func execute() throws(RuntimeError) {
      guard logEvery >= 1 else { throw RuntimeError("--log-every must be at least 1") }
      let report: (String) -> Void = { line in
        print(line)
        fflush(nil)
      }
      let probePlan = try loadPlan(probe)
      let classifier = try LinearProbe(graph: probePlan, threads: kernels.threads)
      let (train, val) = try sources.load(plan: plan, threads: kernels.threads, report: report)
      guard train.dim == classifier.features, train.classes.count == classifier.classes else {
        throw RuntimeError(
          "the probe plan takes \(classifier.features) features and \(classifier.classes) "
            + "classes, the data has \(train.dim) and \(train.classes.count): compile "
            + "Samples/linear_probe.swift with -D features=\(train.dim) "
            + "-D classes=\(train.classes.count)")
      }
      var options = LinearProbe.Options()
      options.epochs = epochs
      options.lr = lr
      options.momentum = momentum
      options.seed = seed
      let start = Date()
      var last = 0.0
      try classifier.train(train.features, labels: train.labels, options: options) { epoch in
        last = epoch.loss
        if epoch.epoch % logEvery == 0 || epoch.epoch == epochs - 1 {
          report(
            "Epoch: [\(epoch.epoch)/\(epochs)] loss: \(String(format: "%.6f", epoch.loss)) "
              + "lr: \(String(format: "%.6g", epoch.lr))")
        }
      }
      let seconds = Date().timeIntervalSince(start)
      let (top1, top5) = try classifier.accuracy(val.features, labels: val.labels)
      report(
        "Linear probe result: Top1: \(String(format: "%.2f", top1)), "
          + "Top5: \(String(format: "%.2f", top5)) (\(epochs) epochs, "
          + "\(String(format: "%.1f", seconds)) s)")
      guard let output else { return }
      let result: [String: Any] = [
        "top1": top1, "top5": top5, "epochs": epochs, "lr": lr,
        "lr_scaled": lr * Double(classifier.batch) / 256, "momentum": momentum,
        "batch": classifier.batch, "train_images": train.count, "val_images": val.count,
        "features": train.dim, "classes": train.classes.count, "final_train_loss": last,
        "seconds": seconds, "feature_source": train.info["source"] ?? "",
      ]
      do {
        let data = try JSONSerialization.data(
          withJSONObject: result, options: [.prettyPrinted, .sortedKeys])
        try data.write(to: URL(fileURLWithPath: output), options: .atomic)
      } catch {
        throw RuntimeError("cannot write \(output): \(error.localizedDescription)")
      }
      report("wrote \(output)")
    }
  }
}
