import ArgumentParser
import DinoFileGuard
import DinoRuntime
import DinoTraining
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
        Each --lr value trains one probe (official trains one, at 0.001; the features' \
        scale decides which rate converges in 100 epochs, so the default tries four and \
        reports the best on val, as DINOv2's linear evaluation does). Prints one line per \
        rate and `Linear probe result: Top1: xx.xx, Top5: yy.yy`; -o writes them as JSON.
        """)

    @Argument(help: "The compiled DINO plan (plan.bin); not needed with feature files.")
    var plan: String?

    @Option(help: "The probe plan compiled from Samples/linear_probe.swift.")
    var probe: String

    @OptionGroup var sources: FeatureSources

    @Option(help: "Epochs over the training features.")
    var epochs: Int = 100

    @Option(
      help: """
        Base learning rates, scaled by batch/256, comma-separated: one probe is trained per \
        value and the best on val is reported (official: one run at 0.001).
        """)
    var lr: String = "0.001,0.01,0.1,1"

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
      _ = try kernels.checked()
      try checkOutputs { (outputs) throws(OutputGuardError) in
        sources.declareReads(&outputs, plan: plan)
        outputs.reads(file: probe, as: "--probe")
        if let output { try outputs.check(output: output, as: "-o") }
      }
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
      let rates = lr.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
      guard !rates.isEmpty, rates.allSatisfy({ ($0 ?? 0) > 0 }) else {
        throw RuntimeError("--lr must be positive numbers separated by commas, got '\(lr)'")
      }
      var options = LinearProbe.Options()
      options.epochs = epochs
      options.momentum = momentum
      options.seed = seed
      let start = Date()
      var runs: [[String: Any]] = []
      var best: (lr: Double, top1: Double, top5: Double)?
      for rate in rates.map({ $0! }) {
        options.lr = rate
        var last = 0.0
        try classifier.train(train.features, labels: train.labels, options: options) { epoch in
          last = epoch.loss
          if epoch.epoch % logEvery == 0 || epoch.epoch == epochs - 1 {
            report(
              "Epoch: [\(epoch.epoch)/\(epochs)] lr \(rate): loss: "
                + "\(String(format: "%.6f", epoch.loss)) lr: \(String(format: "%.6g", epoch.lr))")
          }
        }
        let (top1, top5) = try classifier.accuracy(val.features, labels: val.labels)
        report(
          "lr \(rate): Top1: \(String(format: "%.2f", top1)), "
            + "Top5: \(String(format: "%.2f", top5))")
        runs.append(["lr": rate, "top1": top1, "top5": top5, "final_train_loss": last])
        if best == nil || top1 > best!.top1 { best = (rate, top1, top5) }
      }
      let seconds = Date().timeIntervalSince(start)
      let chosen = best!
      report(
        "Linear probe result: Top1: \(String(format: "%.2f", chosen.top1)), "
          + "Top5: \(String(format: "%.2f", chosen.top5)) (lr \(chosen.lr), \(epochs) epochs, "
          + "\(String(format: "%.1f", seconds)) s)")
      guard let output else { return }
      let result: [String: Any] = [
        "top1": chosen.top1, "top5": chosen.top5, "lr": chosen.lr, "runs": runs,
        "epochs": epochs, "momentum": momentum, "batch": classifier.batch,
        "lr_scale": Double(classifier.batch) / 256, "train_images": train.count,
        "val_images": val.count, "features": train.dim, "classes": train.classes.count,
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
