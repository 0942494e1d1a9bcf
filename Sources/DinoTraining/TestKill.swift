#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A test hook: `DINO_TEST_KILL_RANK=r:s` makes the process of rank `r` of a training run
/// kill itself with SIGKILL when it starts global iteration `s`, as a crashed machine
/// would. Never set it otherwise.
enum TestKill {
  /// The (rank, step) of the environment variable, parsed once.
  static let target: (rank: Int, step: Int)? = {
    guard let raw = getenv("DINO_TEST_KILL_RANK") else { return nil }
    let parts = String(cString: raw).split(separator: ":").compactMap { Int($0) }
    return parts.count == 2 ? (parts[0], parts[1]) : nil
  }()

  /// Kills this process when it is the target's rank at the target's step.
  static func check(rank: Int, step: Int) {
    guard let target, target.rank == rank, target.step == step else { return }
    kill(getpid(), SIGKILL)
  }
}
