import ArgumentParser
import DinoFileGuard
import DinoData

extension DinoRunCommand {
  /// `dino-run crops`: a PNG grid of the multi-crop views the model would see.
  struct Crops: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Write a grid image of the multi-crop views of a few images.",
      discussion: """
        Each row shows one image of the folder (scaled to the global crop size), its two \
        global views and its local views, exactly as the training loader makes them for the \
        given epoch: crop sizes, scales, number of local crops, channels and seed come from \
        the plan's hyper-parameters. Small crops are enlarged by a whole factor so that the \
        grid stays legible.
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Image folder (ImageNet layout: DIR/train/<class>/* or DIR/<class>/*).")
    var data: String

    @Option(name: .shortAndLong, help: "Output PNG file.")
    var output: String

    @Option(help: "Number of images (rows), spread evenly over the folder.")
    var count: Int = 8

    @OptionGroup var pixelBudget: PixelBudgetOption

    @Option(help: "Epoch whose random crops to show.")
    var epoch: Int = 0

    func execute() throws {
      guard count >= 1, count <= 256 else { throw DataError("--count must be in 1...256") }
      guard epoch >= 0 else { throw DataError("--epoch must not be negative") }
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        outputs.reads(folder: data, as: "--data")
        try outputs.check(output: output, as: "-o")
      }
      try pixelBudget.apply()
      let config = try MultiCropConfig(hyper: try loadPlan(plan).hyper)
      let folder = try ImageFolder(path: data)
      let grid = try CropGrid(folder: folder, config: config, count: count, epoch: epoch)
      try grid.image.writePNG(to: output)
      print(
        "wrote \(output): \(grid.rows) images × \(config.viewCount) views "
          + "(2×\(config.globalSize) + \(config.localCrops)×\(config.localSize) px, "
          + "\(config.channels == 1 ? "grey" : "RGB"), shown ×\(grid.enlargement)), "
          + "epoch \(epoch), seed \(config.seed)")
      let skipped = folder.ignored + grid.skipped
      let total = folder.count + folder.ignored.count
      if let line = SkippedFile.summary(skipped, total: total, root: folder.root) { print(line) }
    }
  }
}
