import DinoData
import DinoRuntime
import Foundation

/// Features of a folder of images with their labels and files, as `dino-run features`
/// writes them and `knn` / `linear` read them: a safetensors file with `features` f32
/// [n, dim] (as the backbone returns them, not normalised) and `labels` i32 [n], and the
/// metadata `format` = `dino-features`, `files` (JSON array of paths relative to the
/// folder, one per row), `classes` (JSON array of the class folder names, label order) and
/// any extra entries (`source`, `checkpoint`, `folder`).
public struct FeatureFile: Equatable, Sendable {
  /// Row-major [count, dim].
  public var features: [Float]
  /// Floats per row.
  public var dim: Int
  /// The class index of each row.
  public var labels: [Int32]
  /// Each row's file, relative to the folder.
  public var files: [String]
  /// Class names; label i is classes[i].
  public var classes: [String]
  /// Further metadata (strings).
  public var info: [String: String]

  /// The `format` metadata value.
  public static let format = "dino-features"

  /// Creates a feature set; the sizes must agree.
  public init(
    features: [Float], dim: Int, labels: [Int32], files: [String], classes: [String],
    info: [String: String] = [:]
  ) throws(RuntimeError) {
    guard dim >= 1, features.count == labels.count * dim, files.count == labels.count else {
      throw RuntimeError(
        "feature set: \(features.count) floats, \(labels.count) labels and \(files.count) files "
          + "do not make rows of \(dim)")
    }
    guard labels.allSatisfy({ $0 >= 0 && Int($0) < classes.count }) else {
      throw RuntimeError("feature set: a label is outside the \(classes.count) classes")
    }
    self.features = features
    self.dim = dim
    self.labels = labels
    self.files = files
    self.classes = classes
    self.info = info
  }

  /// Rows.
  public var count: Int { labels.count }

  /// Writes the file atomically.
  public func write(to path: String) throws(RuntimeError) {
    var metadata = info
    metadata["format"] = Self.format
    metadata["files"] = Self.json(files)
    metadata["classes"] = Self.json(classes)
    let file = SafeTensors(
      tensors: [
        "features": HostTensor(shape: [count, dim], floats: features),
        "labels": HostTensor(shape: [count], ints: labels),
      ], metadata: metadata)
    do {
      try file.write(to: path)
    } catch {
      throw RuntimeError(error.message)
    }
  }

  /// Reads a file written by `write(to:)`.
  /// - Throws: one line naming the file and what is wrong with it.
  public static func read(contentsOf path: String) throws(RuntimeError) -> FeatureFile {
    let file: SafeTensors
    do {
      file = try SafeTensors.read(contentsOf: path)
    } catch {
      throw RuntimeError(error.message)
    }
    guard file.metadata["format"] == format,
      let features = file.tensors["features"], features.shape.count == 2,
      features.dtype == .f32,
      let labels = file.tensors["labels"], labels.shape == [features.shape[0]],
      labels.dtype == .i32,
      let files = strings(file.metadata["files"]), let classes = strings(file.metadata["classes"])
    else {
      throw RuntimeError(
        "\(path) is not a feature file of `dino-run features` (format \(format): features "
          + "[n, dim], labels [n], files and classes in the metadata)")
    }
    var info = file.metadata
    for key in ["format", "files", "classes"] { info[key] = nil }
    guard case .i32(let ints) = labels.values else {
      throw RuntimeError("\(path): labels must be int32")
    }
    do {
      return try FeatureFile(
        features: features.floats, dim: features.shape[1], labels: ints, files: files,
        classes: classes, info: info)
    } catch {
      throw RuntimeError("\(path): \(error.message)")
    }
  }

  /// A JSON array of strings.
  static func json(_ strings: [String]) -> String {
    let data = (try? JSONEncoder().encode(strings)) ?? Data("[]".utf8)
    return String(decoding: data, as: UTF8.self)
  }

  /// The strings of a JSON array, or nil.
  static func strings(_ text: String?) -> [String]? {
    guard let text else { return nil }
    return try? JSONDecoder().decode([String].self, from: Data(text.utf8))
  }
}

extension FeatureExtractor {
  /// The features of every decodable image of `folder` (or `limit` evenly spaced ones) in
  /// folder order, with labels, files and class names.
  /// - Parameters:
  ///   - info: extra metadata for the file.
  ///   - skipped: receives one line naming skipped files, if any were.
  public func featureFile(
    _ folder: ImageFolder, workers: Int, limit: Int? = nil, info: [String: String] = [:],
    skipped: (String) -> Void = { _ in }
  ) throws(RuntimeError) -> FeatureFile {
    let set = try extractIndexed(folder, workers: workers, limit: limit, skipped: skipped)
    return try FeatureFile(
      features: set.features, dim: featureDim, labels: set.labels,
      files: set.indices.map { folder.relativePath($0) }, classes: folder.classes, info: info)
  }
}
