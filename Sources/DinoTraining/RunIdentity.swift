import DinoIR
import DinoPlan
import DinoRuntime

/// What makes a checkpoint belong to a run: the plan (a CRC-32 of its encoding), the data
/// set's size, and the length recorded beside it (iterations per epoch, epochs or total
/// iterations). `--resume` refuses a checkpoint whose identity differs, naming every
/// difference, unless `--force`.
struct RunIdentity {
  /// `plan_crc32`: 8 hex digits.
  var planChecksum: String
  /// `dataset_size`: images in the folder.
  var datasetSize: Int

  /// The checkpoint metadata keys of this identity.
  var metadata: [String: String] {
    ["plan_crc32": planChecksum, "dataset_size": "\(datasetSize)"]
  }

  /// The CRC-32 of `graph`'s plan encoding (an unencodable graph gives "unknown").
  static func checksum(of graph: Graph) -> String {
    guard let bytes = try? PlanWriter.encode(graph) else { return "unknown" }
    return bytes.withUnsafeBytes { SafeTensorsChecksums.text($0) }
  }

  /// Refuses to resume `saved` (a checkpoint's metadata) in a run with this identity and
  /// `options` when the plan, the data set size, or the requested length differ. Keys
  /// missing from older checkpoints are not compared.
  func checkResume(
    _ saved: [String: String], checkpoint: String, options: TrainingOptions
  ) throws(RuntimeError) {
    var differences: [String] = []
    if let plan = saved["plan_crc32"], plan != planChecksum {
      differences.append("the plan differs (CRC-32 \(plan) then, \(planChecksum) now)")
    }
    if let size = saved["dataset_size"].flatMap({ Int($0) }), size != datasetSize {
      differences.append(
        "the data differs (\(size) images then, \(datasetSize) in \(options.data) now)")
    }
    if let epochs = options.epochs, saved["schedule_lengths"] == "epochs",
      let savedEpochs = saved["epochs"].flatMap({ Int($0) }), savedEpochs != epochs
    {
      differences.append("it spans \(savedEpochs) epochs, --epochs asks for \(epochs)")
    }
    if let iterations = options.iterations,
      let total = saved["total_iterations"].flatMap({ Int($0) }), total != iterations
    {
      differences.append("it spans \(total) iterations, --iterations asks for \(iterations)")
    }
    guard !differences.isEmpty else { return }
    throw RuntimeError(
      "cannot resume \(checkpoint): " + differences.joined(separator: "; ")
        + "; resume with the same plan, data and length, or pass --force")
  }
}
