import DinoOps
import XCTest

/// The hyper-parameter range table.
final class HyperParameterRangesTests: XCTestCase {
  func testOfficialDefaultsAreInRange() {
    let defaults: [String: Double] = [
      "batch": 64, "channels": 3, "global_size": 224, "local_size": 96, "local_crops": 8,
      "global_scale_min": 0.4, "global_scale_max": 1, "local_scale_min": 0.05,
      "local_scale_max": 0.4, "blur_sigma_min": 0.1, "blur_sigma_max": 2, "epochs": 100,
      "warmup_epochs": 10, "lr": 0.0005,
      "min_lr": 1e-6, "weight_decay": 0.04, "weight_decay_end": 0.4, "momentum_teacher": 0.996,
      "teacher_temp": 0.04, "warmup_teacher_temp": 0.04, "warmup_teacher_temp_epochs": 0,
      "clip_grad": 3, "freeze_last_layer": 1, "seed": 0, "drop_path": 0.1, "student_temp": 0.1,
    ]
    XCTAssertTrue(HyperParameterRanges.problems(defaults).isEmpty)
    XCTAssertEqual(Set(HyperParameterRanges.rules.map(\.key)), Set(defaults.keys))
  }

  func testEachBadValueIsOneProblem() {
    let problems = HyperParameterRanges.problems([
      "lr": -1, "momentum_teacher": 7, "teacher_temp": 0, "global_scale_min": 2,
      "batch": 0.5, "epochs": 1e9, "clip_grad": .infinity, "min_lr": .nan,
      "local_scale_min": 0.5, "local_scale_max": 0.3, "channels": 0, "drop_path": 1,
      "blur_sigma_min": 1, "blur_sigma_max": 0.5,
    ])
    XCTAssertEqual(
      problems.map(\.message),
      [
        "batch = 0.5: must be a whole number in 1...1048576",
        "channels = 0: must be a whole number in 1...64",
        "global_scale_min = 2: must be in (0, 1]",
        "epochs = 1000000000: must be a whole number in 1...1000000",
        "lr = -1: must be ≥ 0 and finite", "min_lr = nan: must be ≥ 0 and finite",
        "momentum_teacher = 7: must be in [0, 1]", "teacher_temp = 0: must be > 0 and finite",
        "clip_grad = inf: must be ≥ 0 and finite", "drop_path = 1: must be in [0, 1)",
        "local_scale_min = 0.5 is above local_scale_max = 0.3: must be at most it",
        "blur_sigma_min = 1 is above blur_sigma_max = 0.5: must be at most it",
      ])
    XCTAssertEqual(
      HyperParameterRanges.problems(["blur_sigma_max": 0]).map(\.message),
      ["blur_sigma_max = 0: must be in (0, 1000] pixels"])
    XCTAssertEqual(
      HyperParameterRanges.problem(key: "lr", value: .nan), "nan must be ≥ 0 and finite")
    XCTAssertNil(HyperParameterRanges.problem(key: "lr", value: 1e30))
    XCTAssertNil(HyperParameterRanges.problem(key: "unknown", value: .nan))
  }
}
