import ArgumentParser
import DinoFileGuard
import DinoData
import DinoRuntime
import DinoTraining
import Foundation

extension DinoRunCommand {
  /// `dino-run attention`: the CLS self-attention maps of the last block, per head.
  struct Attention: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Draw the teacher's last-block CLS attention per head (visualize_attention.py).",
      discussion: """
        Runs the plan's @attention program (teacher backbone, last block, CLS query over the \
        patch keys) with the checkpoint's teacher.* weights (--student: its student.*). The \
        program's shapes are fixed at compile time, so each image is resized to the plan's \
        global size G × G (bicubic, aspect ratio not kept, as the official script's \
        Resize((s, s)); G is a multiple of the patch) and normalised like the evaluation \
        transform. One PNG: one row per image — the image, then one panel per head, each \
        head's map scaled from its minimum to its maximum and coloured with matplotlib's \
        viridis, patches repeated to --size pixels (nearest). With --threshold t, a second \
        row per image shows the official masks (the highest-attention patches holding a share \
        t of the mass): first their union, then one per head, the kept patches tinted yellow \
        (alpha 0.5, as the official display_instances).
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Checkpoint or weights file with teacher.* (or student.*) tensors.")
    var checkpoint: String

    @Option(parsing: .upToNextOption, help: "Image files (JPEG or PNG), one row each.")
    var image: [String] = []

    @Option(name: .shortAndLong, help: "Output PNG file.")
    var output: String

    @Option(help: "Also draw the masks keeping this share of the attention mass, in (0, 1].")
    var threshold: Double?

    @Option(
      help: """
        Panel side in pixels, rounded down to a multiple of the patch grid (default: the \
        plan's global size, enlarged by a whole factor to at least 112).
        """)
    var size: Int?

    @Flag(help: "Use the student's weights instead of the teacher's.")
    var student = false

    @OptionGroup var kernels: ThreadsOption

    func execute() throws {
      guard !image.isEmpty else { throw RuntimeError("give at least one --image file") }
      guard image.count <= 64 else {
        throw RuntimeError("at most 64 --image files, got \(image.count)")
      }
      if let threshold, !(threshold > 0 && threshold <= 1) {
        throw RuntimeError("--threshold must be in (0, 1], got \(threshold)")
      }
      if let size, !(1...4096).contains(size) {
        throw RuntimeError("--size must be in 1...4096, got \(size)")
      }
      _ = try kernels.checked()
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        outputs.reads(file: checkpoint, as: "--checkpoint")
        for path in image { outputs.reads(file: path, as: "--image") }
        try outputs.check(output: output, as: "-o")
      }
      let graph = try loadPlan(plan)
      let extractor = try AttentionExtractor(graph: graph, threads: kernels.threads)
      try extractor.loadWeights(contentsOf: checkpoint, source: student ? .student : .teacher)
      let config = try MultiCropConfig(hyper: graph.hyper)
      let g = extractor.imageSize
      let images = try image.map { path throws(DataError) in
        try Image(contentsOf: path, channels: extractor.channels == 1 ? 1 : nil)
      }
      var input: [Float] = []
      for picture in images {
        input += try AttentionPicture.modelInput(
          picture, size: g, channels: extractor.channels, normalization: config.normalization)
      }
      let weights = try extractor.attention(input)
      let (heads, patches) = (extractor.heads, extractor.patches)
      let rows = images.enumerated().map { i, picture in
        let maps = (0..<heads).map { h in
          Array(weights[(i * heads + h) * patches..<(i * heads + h + 1) * patches])
        }
        return AttentionPicture.Row(
          image: picture, maps: maps,
          masks: threshold.map { t in maps.map { AttentionMask.keep($0, share: t) } })
      }
      let requested = size ?? g * max(1, (112 + g - 1) / g)
      let panel = AttentionPicture.panelSide(requested: requested, gridSide: extractor.gridSide)
      let picture = try AttentionPicture.compose(rows, gridSide: extractor.gridSide, panel: panel)
      try picture.writePNG(to: output)
      print(
        "wrote \(output): \(images.count) image(s) × \(heads) heads, model input \(g)×\(g), "
          + "\(extractor.gridSide)×\(extractor.gridSide) patches, panels \(panel) px"
          + (threshold.map { ", masks keeping \($0) of the mass" } ?? "")
          + ", \(student ? "student" : "teacher") weights")
    }
  }
}
