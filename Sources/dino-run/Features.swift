import ArgumentParser
import DinoFileGuard
import DinoData
import DinoRuntime
import DinoTraining
import Foundation

extension DinoRunCommand {
  /// `dino-run features`: the backbone's CLS features of a folder, for later use.
  struct Features: Subcommand {
    static let configuration = CommandConfiguration(
      abstract: "Write the teacher's (or student's) CLS features of an image folder.",
      discussion: """
        The plan's @features program (backbone CLS after the final norm) over the \
        evaluation transform of `knn` (shorter side round(G·256/224), bicubic, centre crop \
        G, normalised), for every decodable image of DIR/<class>/* in folder order. Writes a \
        safetensors file: `features` f32 [n, dim] (not normalised), `labels` i32 [n], and \
        in the metadata `format` (dino-features), `files` and `classes` (JSON arrays), \
        `source`, `checkpoint`, `folder`. `knn` and `linear` read it with --train-features \
        and --val-features. --student loads the student.* weights into the program's \
        teacher.* slots (same architecture).
        """)

    @Argument(help: "The compiled plan (plan.bin).")
    var plan: String

    @Option(help: "Checkpoint or weights file with teacher.* (or student.*) tensors.")
    var checkpoint: String

    @Option(help: "Image folder (DIR/<class>/*).")
    var data: String

    @Option(name: .shortAndLong, help: "Output safetensors file.")
    var output: String

    @Flag(help: "Use the student's weights instead of the teacher's.")
    var student = false

    @OptionGroup var kernels: ThreadsOption

    @Option(help: "Data loader threads.")
    var workers: Int = BatchLoader.defaultWorkers

    @Option(help: "Use N images, evenly spaced over the folder.")
    var limit: Int?

    func execute() throws {
      _ = try kernels.checked()
      if let limit, limit < 1 { throw RuntimeError("--limit must be at least 1") }
      try checkOutputs { (outputs) throws(OutputGuardError) in
        outputs.reads(file: plan, as: "plan")
        outputs.reads(file: checkpoint, as: "--checkpoint")
        outputs.reads(folder: data, as: "--data")
        try outputs.check(output: output, as: "-o")
      }
      let extractor = try FeatureExtractor(graph: try loadPlan(plan), threads: kernels.threads)
      let source: BackboneSource = student ? .student : .teacher
      try extractor.loadWeights(contentsOf: checkpoint, source: source)
      let folder = try imageFolder(data, option: "--data")
      let start = Date()
      let file = try extractor.featureFile(
        folder, workers: workers, limit: limit,
        info: ["source": source.rawValue, "checkpoint": checkpoint, "folder": folder.root],
        skipped: { print($0) })
      try file.write(to: output)
      let seconds = String(format: "%.1f", Date().timeIntervalSince(start))
      print(
        "wrote \(output): \(file.count) images × \(file.dim) \(source) features, "
          + "\(file.classes.count) classes (\(seconds) s)")
    }
  }
}

/// Scans an image folder; an error names the option.
func imageFolder(_ path: String, option: String) throws(RuntimeError) -> ImageFolder {
  do {
    return try ImageFolder(path: path)
  } catch {
    throw RuntimeError("\(option): \(error.message)")
  }
}

/// Reads a feature file of `dino-run features`; an error names the option.
func featureFile(_ path: String, option: String) throws(RuntimeError) -> FeatureFile {
  do {
    return try FeatureFile.read(contentsOf: path)
  } catch {
    throw RuntimeError("\(option): \(error.message)")
  }
}
