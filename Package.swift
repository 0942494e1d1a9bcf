// swift-tools-version: 6.0
// dino: a compile-ahead graph compiler and CPU runtime for DINO self-distillation.
//
// The C targets use unsafeFlags (OpenMP, -march=native), so this package is a tool, never
// a versioned dependency of another package. Build recipe and its traps: docs/PLATFORM.md.
import PackageDescription

/// OpenMP with Swift's clang: libomp 14's omp.h sits in clang-14's builtin folder, which
/// must come after clang-21's own headers (-idirafter, not -I).
let openMPCFlags = [
  "-fopenmp", "-idirafter", "/usr/lib/llvm-14/lib/clang/14.0.6/include",
  "-O3", "-march=native", "-ffp-contract=fast",
]

let package = Package(
  name: "dino",
  products: [
    .executable(name: "dinoc", targets: ["dinoc"]),
    .executable(name: "dino-run", targets: ["dino-run"]),
    .library(name: "DinoDSL", type: .dynamic, targets: ["DinoDSL"]),
  ],
  dependencies: [
    .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0")
  ],
  targets: [
    // The op table (IR/ops.def) expanded for C and Swift.
    .target(name: "CDinoOps"),
    // OpKind, traits, attribute schemas, shape rules, the DSL→compiler wire format.
    .target(name: "DinoOps", dependencies: ["CDinoOps"], exclude: ["README.md"]),
    // The counter-based generator and the SplitMix64 stream: the one Swift definition.
    .target(name: "DinoRandom", exclude: ["README.md"]),
    // Output checks shared by every command: never write over an input, no symlink appends.
    .target(name: "DinoFileGuard", exclude: ["README.md"]),
    // What model.swift imports.
    .target(name: "DinoDSL", dependencies: ["DinoOps"], exclude: ["README.md"]),
    // Graph, verifier, printer, parser.
    .target(name: "DinoIR", dependencies: ["DinoOps"], exclude: ["README.md"]),
    // Graph -> Graph passes and the pipeline.
    .target(name: "DinoPasses", dependencies: ["DinoIR"], exclude: ["README.md"]),
    // plan.bin writer and validating reader.
    .target(name: "DinoPlan", dependencies: ["DinoIR"], exclude: ["README.md"]),
    // C11 kernels: OpenMP + OpenBLAS, one dispatch table.
    .target(
      name: "CDinoKernels", dependencies: ["CDinoOps"], exclude: ["README.md"],
      cSettings: [.unsafeFlags(openMPCFlags)],
      linkerSettings: [.linkedLibrary("openblas"), .linkedLibrary("omp5"), .linkedLibrary("m")]),
    // JPEG/PNG decoding and pixel-level augmentation in C.
    .target(
      name: "CDinoImage", exclude: ["README.md"],
      cSettings: [.unsafeFlags(["-O3", "-march=native"])],
      linkerSettings: [.linkedLibrary("jpeg"), .linkedLibrary("png"), .linkedLibrary("m")]),
    // The few MPI calls of data-parallel training (Open MPI: libopenmpi-dev), behind an
    // MPI-free header; MPI starts only in processes an MPI launcher started.
    .target(
      name: "CDinoComm", exclude: ["README.md"],
      cSettings: [.unsafeFlags(["-I/usr/lib/x86_64-linux-gnu/openmpi/include", "-O2"])],
      linkerSettings: [
        .unsafeFlags(["-L/usr/lib/x86_64-linux-gnu/openmpi/lib"]), .linkedLibrary("mpi"),
      ]),
    // Image folders, multi-crop augmentation, prefetching batches.
    .target(name: "DinoData", dependencies: ["CDinoImage", "DinoRandom"], exclude: ["README.md"]),
    // The executor: plan loading, buffers, execution, checked runs, safetensors, init values.
    // It must not depend on DinoData (ModuleGraphTests checks the manifest).
    .target(
      name: "DinoRuntime", dependencies: ["DinoPlan", "CDinoKernels"], exclude: ["README.md"]),
    // Jobs that use an executor: the DINO trainer and training loop, k-NN, linear probe,
    // features, attention, backbone export.
    .target(
      name: "DinoTraining",
      dependencies: [
        "DinoRuntime", "DinoData", "DinoPlan", "CDinoKernels", "DinoFileGuard", "DinoRandom",
        "CDinoComm",
      ],
      exclude: ["README.md"]),
    .executableTarget(
      name: "dinoc",
      dependencies: [
        "DinoPasses", "DinoPlan", "DinoFileGuard",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      exclude: ["README.md"]),
    .executableTarget(
      name: "dino-run",
      dependencies: [
        "DinoRuntime", "DinoTraining", "DinoData", "DinoFileGuard", "DinoRandom",
        .product(name: "ArgumentParser", package: "swift-argument-parser"),
      ],
      exclude: ["README.md"]),
    // Test helpers: approximate equality, a Double reference interpreter, random tensors.
    .target(name: "_DinoTestSupport", dependencies: ["DinoIR", "DinoRandom"]),

    .testTarget(name: "DinoRandomTests", dependencies: ["DinoRandom", "CDinoKernels"]),
    .testTarget(name: "DinoOpsTests", dependencies: ["DinoOps"]),
    .testTarget(
      name: "DinoIRTests", dependencies: ["DinoIR", "_DinoTestSupport"],
      resources: [.copy("Golden")]),
    .testTarget(
      name: "DinoPassesTests", dependencies: ["DinoPasses", "DinoRandom", "_DinoTestSupport"]),
    .testTarget(
      name: "DinoPlanTests", dependencies: ["DinoPlan", "DinoPasses", "_DinoTestSupport"]),
    .testTarget(
      name: "CDinoKernelsTests",
      dependencies: ["CDinoKernels", "DinoIR", "DinoRandom", "_DinoTestSupport"]),
    .testTarget(
      name: "DinoRuntimeTests",
      dependencies: ["DinoRuntime", "DinoPasses", "DinoRandom", "_DinoTestSupport"]),
    // Training, evaluation and export, and the end-to-end runs of dinoc and dino-run.
    .testTarget(
      name: "DinoTrainingTests",
      dependencies: [
        "DinoTraining", "DinoRuntime", "DinoData", "DinoPasses", "DinoPlan", "DinoRandom",
        "_DinoTestSupport",
      ],
      exclude: ["Reference"]),
    .testTarget(
      name: "DinoDataTests", dependencies: ["DinoData", "DinoRandom", "_DinoTestSupport"]),
    .testTarget(name: "DinoFileGuardTests", dependencies: ["DinoFileGuard"]),
    .testTarget(
      name: "DinocTests",
      dependencies: ["DinoIR", "DinoDSL", "DinoRuntime", "DinoRandom", "_DinoTestSupport"]),
  ]
)
