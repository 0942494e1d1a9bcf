import ArgumentParser
import DinoFileGuard
import DinoRuntime

extension DinoRunCommand {
  /// `dino-run exec`: one program of a plan on tensors from a safetensors file.
  struct Exec: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Run one program of a plan on given tensors and write its outputs.",
      discussion: """
        Parameters come from --params (which must hold every buffer the program uses, \
        with the plan's shapes) or, without it, from the plan's init specs and --seed. \
        Inputs are read by name from --inputs; every output is written to -o. An output \
        holding NaN or infinity re-runs the program one instruction at a time and exits \
        non-zero naming the first instruction that produced one, with its model.swift \
        location.
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "The program to run (train_step, ema, features, …).")
    var program: String

    @Option(help: "A safetensors file with one tensor per program input.")
    var inputs: String?

    @Option(name: .shortAndLong, help: "Where to write the program's outputs (safetensors).")
    var output: String

    @Option(help: "A safetensors file with the persistent buffers the program uses.")
    var params: String?

    @Option(help: "Where to write every persistent buffer after the run (safetensors).")
    var paramsOut: String?

    @OptionGroup var kernels: ThreadsOption

    @Option(help: "Seed for initialising parameters from their init specs (without --params).")
    var seed: UInt64 = 0

    func execute() throws(RuntimeError) {
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        if let inputs { outputs.reads(file: inputs, as: "--inputs") }
        if let params { outputs.reads(file: params, as: "--params") }
        try outputs.check(output: output, as: "-o")
        if let paramsOut { try outputs.check(output: paramsOut, as: "--params-out") }
      }
      let runtime = try Runtime(graph: try loadPlan(plan), threads: try kernels.checked())
      let used = try runtime.parameters(of: program)
      if let params {
        try runtime.loadBuffers(contentsOf: params, required: used)
      } else {
        try runtime.initializeParameters(seed: seed)
      }
      let file: SafeTensors
      if let inputs {
        file = try readTensors(inputs)
      } else {
        let needed = try runtime.inputs(of: program)
        if !needed.isEmpty {
          throw RuntimeError(
            "@\(program) needs inputs "
              + "\(needed.map { "'\($0.name)'" }.joined(separator: ", ")): pass --inputs FILE"
          )
        }
        file = SafeTensors()
      }
      let outputs = try runtime.executeChecked(program, inputs: file, source: inputs ?? "inputs")
      try writeTensors(outputs, to: output)
      if let paramsOut { try runtime.saveBuffers(to: paramsOut) }
    }
  }
}
