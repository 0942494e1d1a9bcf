/// The crop layout, optimisation and schedule settings of a DINO run, with official DINO's
/// defaults (`main_dino.py`'s argparse, docs/DINO.md §0). Each field is carried to the
/// runtime as the `Graph.hyper` key named in its documentation.
public struct DINOTraining: Sendable, Equatable {
  /// `batch`: images per step (official `batch_size_per_gpu`).
  public var batch = 64
  /// `channels`: image channels (3 for RGB, 1 for grey).
  public var channels = 3
  /// `global_size`: side of the two global crops.
  public var globalSize = 224
  /// `local_size`: side of the local crops.
  public var localSize = 96
  /// `local_crops`: number of local crops (official `local_crops_number`).
  public var localCrops = 8
  /// `global_scale_min`: smallest area fraction of a global crop.
  public var globalScaleMin = 0.4
  /// `global_scale_max`: largest area fraction of a global crop.
  public var globalScaleMax = 1.0
  /// `local_scale_min`: smallest area fraction of a local crop.
  public var localScaleMin = 0.05
  /// `local_scale_max`: largest area fraction of a local crop.
  public var localScaleMax = 0.4
  /// `blur_sigma_min`: smallest standard deviation of the Gaussian blur, in pixels of the crop
  /// (official: radius 0.1 on 224-pixel crops).
  public var blurSigmaMin = 0.1
  /// `blur_sigma_max`: largest standard deviation of the Gaussian blur, in pixels of the crop
  /// (official: radius 2 on 224-pixel crops; the same radius is 8 times stronger at 28 pixels).
  public var blurSigmaMax = 2.0
  /// `epochs`.
  public var epochs = 100
  /// `warmup_epochs`: linear learning-rate warm-up, in epochs (fractions allowed: 0.15 is
  /// round(0.15 × iterations per epoch) iterations).
  public var warmupEpochs = 10.0
  /// `lr`: peak learning rate for a batch of 256 (scaled by batch/256 by the runtime).
  public var lr = 0.0005
  /// `min_lr`: final learning rate of the cosine schedule.
  public var minLR = 1e-6
  /// `weight_decay`: initial weight decay.
  public var weightDecay = 0.04
  /// `weight_decay_end`: final weight decay (cosine schedule).
  public var weightDecayEnd = 0.4
  /// `momentum_teacher`: initial EMA momentum (cosine schedule to 1).
  public var momentumTeacher = 0.996
  /// `teacher_temp`: teacher temperature after the warm-up.
  public var teacherTemp = 0.04
  /// `warmup_teacher_temp`: initial teacher temperature.
  public var warmupTeacherTemp = 0.04
  /// `warmup_teacher_temp_epochs`: teacher-temperature warm-up in epochs (official default
  /// 0); a fraction ramps per iteration instead of per epoch.
  public var warmupTeacherTempEpochs = 0.0
  /// `clip_grad`: per-parameter gradient-norm clip (0 turns it off).
  public var clipGrad = 3.0
  /// `freeze_last_layer`: epochs (fractions allowed) during which the head's last layer is
  /// not updated.
  public var freezeLastLayer = 1.0
  /// `seed`: the run's random seed.
  public var seed = 0

  /// Official DINO's defaults.
  public init() {}

  /// `2 + localCrops`.
  public var views: Int { 2 + localCrops }

  /// The hyper-parameter table these settings record (every key above).
  public var hyper: [String: Double] {
    [
      "batch": Double(batch), "channels": Double(channels), "global_size": Double(globalSize),
      "local_size": Double(localSize), "local_crops": Double(localCrops),
      "global_scale_min": globalScaleMin, "global_scale_max": globalScaleMax,
      "local_scale_min": localScaleMin, "local_scale_max": localScaleMax,
      "blur_sigma_min": blurSigmaMin, "blur_sigma_max": blurSigmaMax,
      "epochs": Double(epochs), "warmup_epochs": warmupEpochs, "lr": lr,
      "min_lr": minLR, "weight_decay": weightDecay, "weight_decay_end": weightDecayEnd,
      "momentum_teacher": momentumTeacher, "teacher_temp": teacherTemp,
      "warmup_teacher_temp": warmupTeacherTemp,
      "warmup_teacher_temp_epochs": warmupTeacherTempEpochs, "clip_grad": clipGrad,
      "freeze_last_layer": freezeLastLayer, "seed": Double(seed),
    ]
  }

  /// These settings with every field overridable on the command line: declares one `Option`
  /// per field, named by its hyper key (`dinoc compile model.swift -D lr=0.001 -D batch=32`),
  /// defaulting to the field's current value.
  /// - Returns: the settings with the overrides applied.
  public func withOptions(
    file: String = #filePath, line: UInt = #line, column: UInt = #column
  ) -> DINOTraining {
    func option<T: OptionValue>(_ name: String, _ value: T) -> T {
      Option(name, default: value, file: file, line: line, column: column)
    }
    var t = self
    t.batch = option("batch", batch)
    t.channels = option("channels", channels)
    t.globalSize = option("global_size", globalSize)
    t.localSize = option("local_size", localSize)
    t.localCrops = option("local_crops", localCrops)
    t.globalScaleMin = option("global_scale_min", globalScaleMin)
    t.globalScaleMax = option("global_scale_max", globalScaleMax)
    t.localScaleMin = option("local_scale_min", localScaleMin)
    t.localScaleMax = option("local_scale_max", localScaleMax)
    t.blurSigmaMin = option("blur_sigma_min", blurSigmaMin)
    t.blurSigmaMax = option("blur_sigma_max", blurSigmaMax)
    t.epochs = option("epochs", epochs)
    t.warmupEpochs = option("warmup_epochs", warmupEpochs)
    t.lr = option("lr", lr)
    t.minLR = option("min_lr", minLR)
    t.weightDecay = option("weight_decay", weightDecay)
    t.weightDecayEnd = option("weight_decay_end", weightDecayEnd)
    t.momentumTeacher = option("momentum_teacher", momentumTeacher)
    t.teacherTemp = option("teacher_temp", teacherTemp)
    t.warmupTeacherTemp = option("warmup_teacher_temp", warmupTeacherTemp)
    t.warmupTeacherTempEpochs = option("warmup_teacher_temp_epochs", warmupTeacherTempEpochs)
    t.clipGrad = option("clip_grad", clipGrad)
    t.freezeLastLayer = option("freeze_last_layer", freezeLastLayer)
    t.seed = option("seed", seed)
    return t
  }
}
