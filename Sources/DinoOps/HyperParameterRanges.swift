/// The valid range of every DINO hyper-parameter (the `Graph.hyper` keys), checked where the
/// value enters: by the DSL at compile time and by `dino-run` for command-line overrides.
/// The table is documented in IR/CONTRACT.md ("Hyper-parameter ranges").
public enum HyperParameterRanges {
  /// One key's rule: a predicate and the wording of the range for messages.
  public struct Rule: Sendable {
    /// The `hyper` key, e.g. `momentum_teacher`.
    public let key: String
    /// The range in words, e.g. "in [0, 1]".
    public let range: String
    /// Whether `value` lies in the range.
    public let accepts: @Sendable (Double) -> Bool
  }

  /// Largest values of counts and sizes: beyond these a plan cannot fit any machine.
  public static let maxBatch = 1 << 20
  /// The largest crop side in pixels.
  public static let maxCropSize = 1 << 14
  /// The largest number of local crops.
  public static let maxLocalCrops = 1024
  /// The largest number of epochs.
  public static let maxEpochs = 1_000_000

  /// Every rule, in the order of `DINOTraining`'s fields, then the architecture's.
  public static let rules: [Rule] = [
    integer("batch", 1, maxBatch),
    integer("channels", 1, 64),
    integer("global_size", 1, maxCropSize),
    integer("local_size", 1, maxCropSize),
    integer("local_crops", 0, maxLocalCrops),
    fraction("global_scale_min"), fraction("global_scale_max"),
    fraction("local_scale_min"), fraction("local_scale_max"),
    blurSigma("blur_sigma_min"), blurSigma("blur_sigma_max"),
    integer("epochs", 1, maxEpochs),
    nonNegative("warmup_epochs"), nonNegative("lr"), nonNegative("min_lr"),
    nonNegative("weight_decay"), nonNegative("weight_decay_end"),
    Rule(key: "momentum_teacher", range: "in [0, 1]") { $0 >= 0 && $0 <= 1 },
    positive("teacher_temp"), positive("warmup_teacher_temp"),
    nonNegative("warmup_teacher_temp_epochs"), nonNegative("clip_grad"),
    nonNegative("freeze_last_layer"),
    integer("seed", 0, 1 << 53),
    Rule(key: "drop_path", range: "in [0, 1)") { $0 >= 0 && $0 < 1 },
    positive("student_temp"),
  ]

  /// The problems with `hyper`, one message per bad value (`lr = -1: lr must be ≥ 0 and
  /// finite`), plus the pairs that must be ordered (scale and blur minimum ≤ maximum). Keys
  /// without a rule are not checked.
  public static func problems(_ hyper: [String: Double]) -> [(key: String, message: String)] {
    var found: [(String, String)] = []
    for rule in rules {
      guard let value = hyper[rule.key], !rule.accepts(value) else { continue }
      found.append((rule.key, "\(rule.key) = \(text(value)): must be \(rule.range)"))
    }
    for (low, high) in [
      ("global_scale_min", "global_scale_max"), ("local_scale_min", "local_scale_max"),
      ("blur_sigma_min", "blur_sigma_max"),
    ] {
      let bad = Set(found.map(\.0))
      guard !bad.contains(low), !bad.contains(high) else { continue }
      if let a = hyper[low], let b = hyper[high], a > b {
        found.append(
          (low, "\(low) = \(text(a)) is above \(high) = \(text(b)): must be at most it"))
      }
    }
    return found
  }

  /// The problem with one runtime override of `key` (e.g. `--lr`), or nil when it is valid.
  public static func problem(key: String, value: Double) -> String? {
    guard let rule = rules.first(where: { $0.key == key }), !rule.accepts(value) else {
      return nil
    }
    return "\(text(value)) must be \(rule.range)"
  }

  private static func text(_ value: Double) -> String {
    value == value.rounded() && abs(value) < 1e15 ? String(Int64(value)) : "\(value)"
  }

  private static func integer(_ key: String, _ low: Int, _ high: Int) -> Rule {
    Rule(key: key, range: "a whole number in \(low)...\(high)") {
      $0.isFinite && $0 == $0.rounded() && $0 >= Double(low) && $0 <= Double(high)
    }
  }

  private static func fraction(_ key: String) -> Rule {
    Rule(key: key, range: "in (0, 1]") { $0 > 0 && $0 <= 1 }
  }

  /// The Gaussian blur's standard deviation, in pixels of the crop (the image pipeline's
  /// kernel is bounded, so is the value).
  private static func blurSigma(_ key: String) -> Rule {
    Rule(key: key, range: "in (0, 1000] pixels") { $0 > 0 && $0 <= 1000 }
  }

  private static func nonNegative(_ key: String) -> Rule {
    Rule(key: key, range: "≥ 0 and finite") { $0 >= 0 && $0.isFinite }
  }

  private static func positive(_ key: String) -> Rule {
    Rule(key: key, range: "> 0 and finite") { $0 > 0 && $0.isFinite }
  }
}
