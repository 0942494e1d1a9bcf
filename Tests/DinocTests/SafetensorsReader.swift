import DinoRuntime
import Foundation

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
  /// `Tests/DinoRuntimeTests/Reference`.
  static let folder = DinocRunner.packageRoot.appendingPathComponent(
    "Tests/DinoRuntimeTests/Reference")

  /// Opens `<name>.safetensors` there.
  static func open(_ name: String) throws -> SafetensorsReader {
    try SafetensorsReader(folder.appendingPathComponent("\(name).safetensors"))
  }
}
