import ArgumentParser
import DinoFileGuard
import DinoOps
import DinoRuntime
import DinoTraining
import Foundation

extension DinoRunCommand {
  /// `dino-run step`: one exact DINO training step, for checking against the official code.
  struct Step: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Run one DINO training step (train_step, then the teacher EMA) on given crops.",
      discussion: """
        Weights come from --init: all student.* tensors (or none: the plan's init specs \
        and --seed), teacher.* (none: a copy of the student), center (absent: zeros). \
        Adam state starts fresh. --crops holds crop0… in view order (global crops first), \
        each [B,C,H,W] as the plan declares. Scalars not given explicitly are the plan's \
        schedules at the first iteration of --epoch, counting one iteration per epoch \
        (so lr, weight decay and momentum are those of epoch E's start with \
        iterations-per-epoch 1); the teacher temperature is the per-epoch schedule's and \
        the last layer is frozen while E < freeze_last_layer. Prints `loss <value>` and \
        writes student.*, teacher.* and center to -o. A non-finite loss or weight re-runs \
        the step one instruction at a time and exits non-zero naming the first instruction \
        that produced one (or the input or weight that held one), with its model.swift \
        location; nothing is written then.
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "A safetensors file with student.*, teacher.*, center (all optional).")
    var `init`: String?

    @Option(help: "A safetensors file with crop0… ([B,C,H,W] each).")
    var crops: String

    @Option(name: .shortAndLong, help: "Where to write student.*, teacher.*, center.")
    var output: String

    @Option(help: "The epoch the step belongs to (schedules, last-layer freeze).")
    var epoch: Int = 0

    @Option(help: "Learning rate (default: the schedule's).")
    var lr: Double?

    @Option(help: "Weight decay (default: the schedule's).")
    var wd: Double?

    @Option(help: "Teacher EMA momentum (default: the schedule's).")
    var momentum: Double?

    @Option(help: "Teacher temperature (default: the schedule's).")
    var teacherTemp: Double?

    @Option(help: "Seed for drop path and for init specs when --init has no student.")
    var seed: UInt64 = 0

    @OptionGroup var kernels: ThreadsOption

    func execute() throws(RuntimeError) {
      guard epoch >= 0 else { throw RuntimeError("--epoch must be at least 0, got \(epoch)") }
      try Self.checkOverrides([
        ("--lr", "lr", lr), ("--wd", "weight_decay", wd),
        ("--momentum", "momentum_teacher", momentum),
        ("--teacher-temp", "teacher_temp", teacherTemp),
      ])
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        if let path = `init` { outputs.reads(file: path, as: "--init") }
        outputs.reads(file: crops, as: "--crops")
        try outputs.check(output: output, as: "-o")
      }
      let trainer = try DINOTrainer(graph: try loadPlan(plan), threads: try kernels.checked())
      if let path = `init` {
        try trainer.loadWeights(contentsOf: path, seed: seed)
      } else {
        try trainer.initialize(seed: seed)
      }
      try trainer.setCrops(try readTensors(crops), source: crops)
      let schedules = try trainer.schedules(iterationsPerEpoch: 1)
      let epochs = schedules.epochs
      guard epoch < epochs else {
        throw RuntimeError("--epoch \(epoch) is past the plan's \(epochs) epochs")
      }
      var scalars = DINOTrainer.scalars(
        schedules, epoch: epoch, iteration: 0, seed: Int32(truncatingIfNeeded: seed))
      if let lr { scalars.lr = lr }
      if let wd { scalars.weightDecay = wd }
      if let momentum { scalars.momentum = momentum }
      if let teacherTemp { scalars.teacherTemp = teacherTemp }
      let loss = try StepGuard(trainer: trainer).trainStep(
        scalars, label: "dino-run step (epoch \(epoch))")
      try trainer.updateTeacher(momentum: scalars.momentum)
      try trainer.saveWeights(
        to: output,
        metadata: [
          "epoch": "\(epoch)", "loss": "\(loss)", "lr": "\(scalars.lr)",
          "wd": "\(scalars.weightDecay)", "momentum": "\(scalars.momentum)",
          "teacher_temp": "\(scalars.teacherTemp)",
        ])
      print("loss \(loss)")
    }

    /// Refuses an override outside its hyper-parameter's range (`--lr nan`, `--momentum 7`).
    static func checkOverrides(
      _ overrides: [(option: String, key: String, value: Double?)]
    ) throws(RuntimeError) {
      for (option, key, value) in overrides {
        guard let value, let problem = HyperParameterRanges.problem(key: key, value: value)
        else { continue }
        throw RuntimeError("\(option) \(value): \(problem) (the range of \(key))")
      }
    }
  }
}
