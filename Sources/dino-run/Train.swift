import ArgumentParser
import DinoFileGuard
import DinoData
import DinoRuntime
import DinoTraining
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
        (iterations per epoch = ⌊images / batch⌋) and the teacher temperature. \
        Multi-crop views follow the plan's hyper-parameters. On a terminal a live status \
        line (epoch, iteration, loss, lr, images/s, ETA) is redrawn in place; otherwise \
        every --log-every iterations a line like official DINO's is printed. Every log \
        interval appends one JSON object to OUTPUT/log.jsonl (loss, schedules, teacher \
        entropy, KL, center norm, images/s, data wait) and warns when the teacher stays \
        near uniform or collapses; each epoch appends one JSON line to OUTPUT/log.txt and \
        redraws OUTPUT/curves.png. OUTPUT/checkpoint.safetensors (student, teacher, center, \
        Adam state; metadata epoch, step and the schedule's length) is written atomically \
        at each epoch end, every --save-every-minutes and on SIGINT/SIGTERM, which finish \
        the current step, save, print the command that resumes, and exit 130/143. --resume \
        continues bit for bit, also mid-epoch. --budget times a few pilot steps (then \
        undone), chooses the iteration count that fits and scales every schedule length \
        with it. A non-finite loss or weight stops training with exit status 1 and one \
        line naming the step and the first instruction that produced a non-finite value \
        (op and model.swift location); the last checkpoint is kept as it was.
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Image folder (ImageNet layout: DIR/train/<class>/* or DIR/<class>/*).")
    var data: String

    @Option(
      help: """
        Epochs (default: the plan's, or on --resume the checkpoint's); the schedules span \
        this many, warm-up and freeze lengths stay in epochs.
        """)
    var epochs: Int?

    @Option(
      help: """
        Wall-clock budget (900, 90s, 15m, 1h30m): a pilot times a few steps and the run's \
        iterations, and every schedule length with them, are sized to end within it.
        """)
    var budget: String?

    @Option(
      help: "Iterations in all; schedule lengths scale with the run as for --budget.")
    var iterations: Int?

    @OptionGroup var pixelBudget: PixelBudgetOption

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

    @Flag(
      help: """
        With --resume: continue even when the checkpoint's plan, data set size or length \
        differ from this run's.
        """)
    var force = false

    @Option(help: "Print a log line every K iterations.")
    var logEvery: Int = 10

    @Option(help: "Also keep OUTPUT/checkpointNNNN.safetensors every K epochs (0: never).")
    var saveEvery: Int = 20

    @Option(help: "Also save OUTPUT/checkpoint.safetensors every M minutes, mid-epoch (0: off).")
    var saveEveryMinutes: Double = 10

    func execute() throws {
      let world = try Communicator.world()
      guard world.isDistributed else { return try train(world) }
      do {
        try train(world)
      } catch let error as any OneLineError {
        // The first process to exit non-zero makes mpirun end the others. Rank 0 speaks at
        // once; another rank first leaves it a moment, so that an error every rank meets
        // (a bad option, a missing folder) is printed once; a process whose error another
        // one reports (a diverged rank) waits longest and says nothing.
        if (error as? RuntimeError)?.reportedElsewhere ?? false {
          sleep(5)
        } else {
          if world.rank != 0 { sleep(2) }
          FileHandle.standardError.write(
            Data("dino-run: error: rank \(world.rank) of \(world.size): \(error.message)\n".utf8))
        }
        Foundation.exit(1)
      }
      world.finalize()
    }

    /// Trains as rank `world.rank` of `world.size` processes.
    private func train(_ world: Communicator) throws {
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        if let initWeights { outputs.reads(file: initWeights, as: "--init") }
        outputs.reads(folder: data, as: "--data")
        try outputs.check(outputFolder: output, as: "--output")
        try outputs.check(output: output + "/checkpoint.safetensors", as: "--output")
        for name in ["log.txt", "log.jsonl", "curves.png"] {
          try outputs.check(output: output + "/" + name, as: "--output")
        }
        try NoFollowAppend.checkAppendable(output + "/log.txt")
        try NoFollowAppend.checkAppendable(output + "/log.jsonl")
      }
      try pixelBudget.apply()
      var options = TrainingOptions(data: data)
      options.output = output
      options.epochs = epochs
      options.threads = try kernels.checked()
      options.workers = workers
      options.seed = seed
      options.initWeights = initWeights
      options.resume = resume
      options.force = force
      options.logEvery = logEvery
      options.saveEvery = saveEvery
      options.saveEveryMinutes = saveEveryMinutes
      options.iterations = iterations
      options.budget = try budget.map { text throws(RuntimeError) in try TimeBudget(parsing: text) }
      // mpirun hands its ranks a pseudo-terminal whatever its own output is: lines there.
      options.live = ProgressLine.stdoutIsTerminal && !world.isDistributed
      let run = try TrainingRun(graph: try loadPlan(plan), options: options, world: world)
      let summary = try run.run { line in
        print(line)
        fflush(nil)  // stdout, line by line even when piped
      }
      if let signal = summary.stoppedBy {
        if world.rank == 0 {
          FileHandle.standardError.write(
            Data((stopLine(summary, signal: signal, ranks: world.size) + "\n").utf8))
        }
        world.finalize()
        throw ExitCode(128 + signal)
      }
    }

    /// What a stopped run saved and the command that continues it.
    private func stopLine(_ summary: TrainingSummary, signal: Int32, ranks: Int) -> String {
      let name = StopSignals.name(signal)
      guard !summary.checkpoint.isEmpty else {
        return
          "dino-run: stopped by \(name) during the budget's pilot; nothing was trained or saved"
      }
      let perEpoch = summary.iterationsPerEpoch
      var command = ["dino-run", "train", plan, "--data", data, "--output", output, "--resume"]
      if ranks > 1 { command = ["mpirun", "-np", "\(ranks)"] + command }
      if let epochs { command += ["--epochs", "\(epochs)"] }
      if let iterations { command += ["--iterations", "\(iterations)"] }
      if let seed { command += ["--seed", "\(seed)"] }
      command += ["--threads", "\(kernels.threads)"]
      return "dino-run: stopped by \(name): saved \(summary.checkpoint) at iteration "
        + "\(summary.endStep) of \(summary.totalIterations) (epoch \(summary.endStep / perEpoch), "
        + "next batch \(summary.endStep % perEpoch) of \(perEpoch)); resume with: "
        + command.map(Self.shellQuoted).joined(separator: " ")
    }

    /// `word` as a POSIX shell word (quoted only when it needs to be).
    static func shellQuoted(_ word: String) -> String {
      let plain = word.allSatisfy {
        $0.isASCII && ($0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0))
      }
      if plain && !word.isEmpty { return word }
      return "'" + word.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }
  }
}
