import ArgumentParser
import DinoData
import DinoRuntime
import Foundation

extension DinoRunCommand {
  /// `dino-run train` (also `dino-run plan.bin --data DIR`): DINO training on an image
  /// folder.
  struct Train: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Train a plan with DINO on an image folder (the default subcommand).",
      discussion: """
        Each iteration runs train_step (student and teacher forward, loss, center update, \
        backward, per-parameter clipping, last-layer freeze, AdamW) and then the teacher \
        EMA, with lr, weight decay and momentum from the plan's per-iteration schedules \
        (iterations per epoch = ⌊images / batch⌋) and the per-epoch teacher temperature. \
        Multi-crop views follow the plan's hyper-parameters. On a terminal a live status \
        line (epoch, iteration, loss, lr, images/s, ETA) is redrawn in place; otherwise \
        every --log-every iterations a line like official DINO's is printed. Every log \
        interval appends one JSON object to OUTPUT/log.jsonl (loss, schedules, teacher \
        entropy, KL, center norm, images/s, data wait) and warns when the teacher stays \
        near uniform or collapses; each epoch appends one JSON line to OUTPUT/log.txt, \
        redraws OUTPUT/curves.png and writes OUTPUT/checkpoint.safetensors atomically \
        (student, teacher, center, Adam state; metadata epoch and step), which --resume \
        continues. A non-finite loss or weight stops training with exit status 1 and one \
        line naming the step and the first instruction that produced a non-finite value \
        (op and model.swift location); the last checkpoint is kept as it was.
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Image folder (ImageNet layout: DIR/train/<class>/* or DIR/<class>/*).")
    var data: String

    @Option(help: "Epochs (default: the plan's); the schedules span this many.")
    var epochs: Int?

    @OptionGroup var kernels: ThreadsOption

    @Option(help: "Data loader threads (default: one per four cores).")
    var workers: Int = BatchLoader.defaultWorkers

    @Option(help: "Seed for sample order, augmentation, init and drop path (default: plan's).")
    var seed: UInt64?

    @Option(help: "Folder for log.txt and checkpoints.")
    var output: String = "runs/train"

    @Option(name: .customLong("init"), help: "Start weights: student.*, teacher.*, center.")
    var initWeights: String?

    @Flag(help: "Continue from OUTPUT/checkpoint.safetensors.")
    var resume = false

    @Option(help: "Print a log line every K iterations.")
    var logEvery: Int = 10

    @Option(help: "Also keep OUTPUT/checkpointNNNN.safetensors every K epochs (0: never).")
    var saveEvery: Int = 20

    func execute() throws(RuntimeError) {
      var options = TrainingOptions(data: data)
      options.output = output
      options.epochs = epochs
      options.threads = kernels.threads
      options.workers = workers
      options.seed = seed
      options.initWeights = initWeights
      options.resume = resume
      options.logEvery = logEvery
      options.saveEvery = saveEvery
      options.live = ProgressLine.stdoutIsTerminal
      let run = try TrainingRun(graph: try loadPlan(plan), options: options)
      try run.run { line in
        print(line)
        fflush(nil)  // stdout, line by line even when piped
      }
    }
  }
}
