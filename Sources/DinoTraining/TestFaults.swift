#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Test hooks of data-parallel training, each `rank:step` in the environment; never set
/// them otherwise:
/// - `DINO_TEST_KILL_RANK=r:s`: the process of rank `r` kills itself with SIGKILL when it
///   starts global iteration `s`, as a crashed machine would;
/// - `DINO_TEST_NAN_RANK=r:s`: rank `r` writes a NaN into its first crop at iteration `s`,
///   so that its loss (and only its) is not finite.
enum TestFaults {
  /// The kill target.
  static let kill = target("DINO_TEST_KILL_RANK")
  /// The NaN target.
  static let nan = target("DINO_TEST_NAN_RANK")

  /// The (rank, step) of environment variable `name`.
  static func target(_ name: String) -> (rank: Int, step: Int)? {
    guard let raw = getenv(name) else { return nil }
    let parts = String(cString: raw).split(separator: ":").compactMap { Int($0) }
    return parts.count == 2 ? (parts[0], parts[1]) : nil
  }

  /// Kills this process when it is the kill target's rank at its step.
  static func killIfTargeted(rank: Int, step: Int) {
    guard let kill, kill.rank == rank, kill.step == step else { return }
    Glibc.kill(getpid(), SIGKILL)
  }

  /// Whether this rank's crops get a NaN at `step`.
  static func poisons(rank: Int, step: Int) -> Bool {
    guard let nan else { return false }
    return nan.rank == rank && nan.step == step
  }
}
