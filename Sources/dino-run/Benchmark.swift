import ArgumentParser
import DinoIR
import DinoOps
import DinoPlan
import DinoRandom
import DinoRuntime
import Foundation

extension DinoRunCommand {
  /// `dino-run benchmark`: times training steps (train_step + ema) on random crops.
  struct Benchmark: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Time training steps (train_step + ema) of a plan on random crops.",
      discussion: """
        Parameters come from the plan's init specs and --seed; the crops are random normal \
        values with the shapes of train_step's inputs; lr, wd, teacher_temp and momentum \
        come from the plan's hyper-parameters, last_layer_gate is 1 and seed is the step \
        number. Prints ms per step (median and min), images/s, and the matmul GFLOP/s of \
        train_step (2·M·N·K per matmul, linear and patch_embed, from the plan's shapes) \
        against the sgemm peak. --profile adds a run timed one instruction at a time: \
        time per op kind and the ten slowest instructions.
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Timed steps.")
    var steps: Int = 10

    @Option(help: "Untimed steps before them.")
    var warmup: Int = 2

    @OptionGroup var kernels: ThreadsOption

    @Option(help: "Seed for the parameters and the crops.")
    var seed: UInt64 = 0

    @Flag(help: "Also time each instruction of train_step (per op kind, slowest instructions).")
    var profile = false

    @Option(help: "How many of the slowest instructions --profile lists.")
    var top: Int = 10

    @Option(help: "Only list instructions of this op in the --profile slowest list (e.g. pad).")
    var topOp: String?

    /// OpenBLAS sgemm on the measured machine kind, GFLOP/s per thread (docs/PLATFORM.md §4:
    /// 105 on one thread, 211 on two).
    static let sgemmPeakPerThread = 105.5

    func execute() throws(RuntimeError) {
      let threads = try kernels.checked()
      guard steps >= 1 else { throw RuntimeError("--steps must be at least 1, got \(steps)") }
      guard warmup >= 0 else { throw RuntimeError("--warmup must not be negative, got \(warmup)") }
      let graph = try loadPlan(plan)
      guard let train = graph.programs.first(where: { $0.name == "train_step" }) else {
        throw RuntimeError("\(plan) has no @train_step program")
      }
      let hasEMA = graph.programs.contains { $0.name == "ema" }
      let runtime = try Runtime(graph: graph, threads: threads)
      try runtime.initializeParameters(seed: seed)
      let batch = try feedInputs(runtime, graph: graph)
      if hasEMA {
        try runtime.setScalar("momentum", Float(graph.hyper["momentum_teacher"] ?? 0.996))
      }

      let clock = ContinuousClock()
      var times: [Double] = []
      for step in 0..<(warmup + steps) {
        try runtime.setInput("seed", ints: [Int32(truncatingIfNeeded: step)])
        let start = clock.now
        try runtime.run("train_step")
        if hasEMA { try runtime.run("ema") }
        let elapsed = start.duration(to: clock.now)
        if step >= warmup { times.append(Self.seconds(elapsed)) }
      }
      let loss = try runtime.output("loss", program: "train_step").first ?? .nan

      let sorted = times.sorted()
      let median =
        sorted.count % 2 == 1
        ? sorted[sorted.count / 2] : (sorted[sorted.count / 2 - 1] + sorted[sorted.count / 2]) / 2
      let best = sorted[0]
      let flops = Self.matmulFlops(train)
      let peak = Self.sgemmPeakPerThread * Double(threads)
      let crops = train.nodes.filter { $0.op == .input && $0.type.rank == 4 }
      let cropText = crops.map { "\($0.type.shape[2])" }.joined(separator: ",")
      print(
        "plan \(plan): @train_step \(train.nodes.count) nodes, batch \(batch), "
          + "\(crops.count) crops (\(cropText) px), \(threads) thread\(threads == 1 ? "" : "s")")
      print(
        "step (train_step\(hasEMA ? " + ema" : "")), \(steps) steps after \(warmup) warm-up: "
          + "median \(Self.fixed(median * 1e3, 1)) ms, min \(Self.fixed(best * 1e3, 1)) ms")
      print(
        "images/s: \(Self.fixed(Double(batch) / median, 2)) (median), "
          + "\(Self.fixed(Double(batch) / best, 2)) (best)")
      print(
        "matmul: \(Self.fixed(flops / 1e9 / Double(batch), 3)) GFLOP/image, "
          + "\(Self.fixed(flops / 1e9, 2)) GFLOP/step; "
          + "\(Self.fixed(flops / median / 1e9, 1)) GFLOP/s (median), "
          + "\(Self.fixed(flops / best / 1e9, 1)) (best) = "
          + "\(Self.fixed(100 * flops / median / 1e9 / peak, 0))% of the "
          + "\(Self.fixed(peak, 0)) GFLOP/s sgemm peak")
      print("loss (last step): \(loss); state checksum \(try Self.checksum(runtime))")
      if profile { try printProfile(runtime, program: train, median: median) }
    }

    /// Fills every input of train_step; returns the batch (the crops' leading extent).
    private func feedInputs(_ runtime: Runtime, graph: Graph) throws(RuntimeError) -> Int {
      var batch = 0
      var state = seed ^ 0x5EED_C0DE
      let scalars: [String: Float] = [
        "lr": Float(graph.hyper["lr"] ?? 5e-4),
        "wd": Float(graph.hyper["weight_decay"] ?? 0.04),
        "teacher_temp": Float(graph.hyper["teacher_temp"] ?? 0.04),
        "last_layer_gate": 1,
      ]
      for (name, type) in try runtime.inputs(of: "train_step") {
        if name == "seed" && type.dtype == .i32 && type.count == 1 { continue }
        if let value = scalars[name], type.count == 1, type.dtype == .f32 {
          try runtime.setScalar(name, value, program: "train_step")
        } else if type.dtype == .f32 && type.rank >= 1 {
          batch = max(batch, type.shape[0])
          let values = Self.normals(type.count, state: &state)
          try runtime.setInput(name, values, program: "train_step")
        } else {
          throw RuntimeError("benchmark cannot feed @train_step input '\(name)' (\(type))")
        }
      }
      guard batch > 0 else { throw RuntimeError("@train_step has no crop inputs") }
      return batch
    }

    /// Times train_step one instruction at a time (three runs, median per instruction)
    /// and prints the time per op kind and the ten slowest instructions.
    private func printProfile(_ runtime: Runtime, program: Program, median: Double)
      throws(RuntimeError)
    {
      var runs: [[InstructionTiming]] = []
      for run in 0..<3 {
        try runtime.setInput("seed", ints: [Int32(run)])
        runs.append(try runtime.profile("train_step"))
      }
      var timings = runs[0]
      for i in timings.indices {
        let samples = runs.map { $0[i].seconds }.sorted()
        timings[i].seconds = samples[samples.count / 2]
      }
      let total = timings.reduce(0) { $0 + $1.seconds }
      print(
        "\nprofile of @train_step (\(timings.count) instructions, each its own dino_exec call, "
          + "median of 3 runs): \(Self.fixed(total * 1e3, 1)) ms in all")
      var byOp: [OpKind: (seconds: Double, count: Int, flops: Double)] = [:]
      for timing in timings {
        let flops = program.gemmFlops(of: timing.node)
        byOp[timing.op, default: (0, 0, 0)].seconds += timing.seconds
        byOp[timing.op, default: (0, 0, 0)].count += 1
        byOp[timing.op, default: (0, 0, 0)].flops += flops
      }
      print(
        Self.pad("op", 22) + Self.pad("ms", 10, right: true) + Self.pad("%", 7, right: true)
          + Self.pad("count", 7, right: true) + Self.pad("GFLOP/s", 10, right: true))
      for (op, entry) in byOp.sorted(by: { $0.value.seconds > $1.value.seconds }) {
        let rate = entry.flops > 0 ? Self.fixed(entry.flops / entry.seconds / 1e9, 1) : ""
        print(
          Self.pad(op.name, 22) + Self.pad(Self.fixed(entry.seconds * 1e3, 2), 10, right: true)
            + Self.pad(Self.fixed(100 * entry.seconds / total, 1), 7, right: true)
            + Self.pad("\(entry.count)", 7, right: true) + Self.pad(rate, 10, right: true))
      }
      try printOptimizerTime(runtime, timings: timings, program: program)
      print("\nslowest \(topOp ?? "") instructions:")
      let listed = timings.filter { topOp == nil || $0.op.name == topOp }
      for timing in listed.sorted(by: { $0.seconds > $1.seconds }).prefix(max(0, top)) {
        let node = program.nodes[timing.node]
        let operands = node.operands.map { "\(program.nodes[$0.index].type)" }
        print(
          Self.pad(Self.fixed(timing.seconds * 1e3, 3) + " ms", 12)
            + "%\(timing.node) \(node.op.name)(\(operands.joined(separator: ", "))) -> \(node.type)"
        )
      }
    }

    /// Prints the optimiser's share of `timings` (instructions in scope `optimizer…`: the
    /// clipping, AdamW and gradient assignments) and the `ema` program profiled the same way
    /// (median of 3 runs), per tensor or flat alike.
    private func printOptimizerTime(
      _ runtime: Runtime, timings: [InstructionTiming], program: Program
    ) throws(RuntimeError) {
      let optimizer = timings.filter { program.nodes[$0.node].scope.hasPrefix("optimizer") }
      let optimizerSeconds = optimizer.reduce(0) { $0 + $1.seconds }
      var emaSeconds = 0.0, emaCount = 0
      if runtime.graph.program("ema") != nil {
        var totals: [Double] = []
        for _ in 0..<3 {
          let run = try runtime.profile("ema")
          emaCount = run.count
          totals.append(run.reduce(0) { $0 + $1.seconds })
        }
        emaSeconds = totals.sorted()[1]
      }
      print(
        "\noptimiser + EMA: \(Self.fixed((optimizerSeconds + emaSeconds) * 1e3, 2)) ms = "
          + "optimiser \(Self.fixed(optimizerSeconds * 1e3, 2)) ms (\(optimizer.count) "
          + "instructions in scope optimizer) + @ema \(Self.fixed(emaSeconds * 1e3, 2)) ms "
          + "(\(emaCount) instructions)")
    }

    /// FNV-1a (64-bit) over the bytes of every persistent region but the `grad` scratch
    /// (so plans with and without the flat optimiser compare), in name order: equal
    /// checksums after the same steps mean bitwise-equal parameters, moments and center.
    static func checksum(_ runtime: Runtime) throws(RuntimeError) -> String {
      var hash: UInt64 = 0xCBF2_9CE4_8422_2325
      for name in runtime.layout.regions.sorted() where name != Runtime.scratchRegion {
        for byte in try runtime.region(name) {
          hash = (hash ^ UInt64(byte)) &* 0x100_0000_01B3
        }
      }
      let hex = String(hash, radix: 16)
      return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The matmul FLOPs of `program`: 2·M·N·K summed over matmul, linear and patch_embed
    /// (the `gemm_flops` column of IR/ops.def).
    static func matmulFlops(_ program: Program) -> Double { program.gemmFlops }

    /// `count` standard normal floats (Box–Muller over splitmix64).
    static func normals(_ count: Int, state: inout UInt64) -> [Float] {
      var stream = SplitMix64(seed: state)
      defer { state = stream.state }
      func next() -> Double { (Double(stream.next() >> 11) + 0.5) * 0x1p-53 }
      var values = [Float](repeating: 0, count: count)
      var i = 0
      while i < count {
        let radius = (-2 * log(next())).squareRoot()
        let angle = 2 * Double.pi * next()
        values[i] = Float(radius * cos(angle))
        if i + 1 < count { values[i + 1] = Float(radius * sin(angle)) }
        i += 2
      }
      return values
    }

    static func seconds(_ duration: Duration) -> Double {
      Double(duration.components.seconds) + Double(duration.components.attoseconds) * 1e-18
    }

    /// `value` with `digits` decimals.
    static func fixed(_ value: Double, _ digits: Int) -> String {
      guard value.isFinite else { return "\(value)" }
      var scale = 1.0
      for _ in 0..<digits { scale *= 10 }
      let rounded = (abs(value) * scale).rounded()
      let whole = Int(rounded / scale)
      var text = (value < 0 && rounded > 0 ? "-" : "") + "\(whole)"
      if digits > 0 {
        let fraction = Int(rounded - Double(whole) * scale)
        let digitsText = String(fraction)
        text += "." + String(repeating: "0", count: digits - digitsText.count) + digitsText
      }
      return text
    }

    /// `text` padded with spaces to `width` (on the left when `right`).
    static func pad(_ text: String, _ width: Int, right: Bool = false) -> String {
      let fill = String(repeating: " ", count: max(0, width - text.count))
      return right ? fill + text : text + fill
    }
  }
}
