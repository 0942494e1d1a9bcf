import DinoRuntime
import Foundation
import _DinoTestSupport

/// The committed reference files read through the project's own safetensors reader
/// (`DinoRuntime.SafeTensors`, tested on its own in DinoRuntimeTests), with the tensors
/// widened to Double for comparisons with the reference interpreter.
struct SafetensorsReader {
  /// One tensor's shape.
  struct Entry {
    var shape: [Int]
  }

  /// Tensors by name.
  let entries: [String: Entry]
  /// The `__metadata__` strings.
  let metadata: [String: String]
  private let file: SafeTensors

  /// Reads the file at `url`.
  init(_ url: URL) throws {
    file = try SafeTensors.read(contentsOf: url.path)
    entries = file.tensors.mapValues { Entry(shape: $0.shape) }
    metadata = file.metadata
  }

  /// The values of the F32 tensor `name`, widened to Double.
  func doubles(_ name: String) throws -> [Double] {
    guard let tensor = file.tensors[name], tensor.dtype == .f32 else {
      throw SafeTensorsError("no F32 tensor '\(name)'")
    }
    return tensor.floats.map(Double.init)
  }
}

/// The committed official-DINO reference files (`tools/make_dino_reference.py`).
enum ReferenceFiles {
  /// `Tests/DinoTrainingTests/Reference`.
  static let folder = DinocRunner.packageRoot.appendingPathComponent(
    "Tests/DinoTrainingTests/Reference")

  /// Opens `<name>.safetensors` there.
  static func open(_ name: String) throws -> SafetensorsReader {
    try SafetensorsReader(folder.appendingPathComponent("\(name).safetensors"))
  }
}

extension SafetensorsReader {
  /// Every tensor, by name, widened to Double.
  func referenceTensors() throws -> [String: ReferenceTensor] {
    var result: [String: ReferenceTensor] = [:]
    for (key, entry) in entries {
      result[key] = ReferenceTensor(shape: entry.shape, data: try doubles(key))
    }
    return result
  }

  /// `-D key=value` for each entry of the `defines` metadata (the sample's settings the
  /// reference was made with), sorted by key.
  func defineFlags() throws -> [String] {
    guard let text = metadata["defines"],
      let json = try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any]
    else { throw SafeTensorsError("no 'defines' metadata") }
    return json.keys.sorted().flatMap { ["-D", "\($0)=\(json[$0]!)"] }
  }
}
