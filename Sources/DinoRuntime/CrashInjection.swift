import Foundation

/// A test hook that kills the process in the middle of a checkpoint write, to check that
/// a `kill -9` at that moment leaves the previous checkpoint loadable.
///
/// With `DINO_TEST_KILL_IN_CHECKPOINT_WRITE=N` in the environment, the N-th atomic write
/// (1-based, counted per process) of a file whose name starts with `checkpoint` sends
/// SIGKILL to the process right after its first chunk reaches the temporary file. Unset
/// (always, outside tests), it does nothing.
enum CrashInjection {
  /// The environment variable.
  static let variable = "DINO_TEST_KILL_IN_CHECKPOINT_WRITE"

  private static let target: Int? = ProcessInfo.processInfo.environment[variable].flatMap {
    Int($0)
  }
  private static let lock = NSLock()
  nonisolated(unsafe) private static var checkpointWrites = 0

  /// Whether the write of file `name` (no folder) is the one to kill.
  static func shouldKill(writing name: String) -> Bool {
    guard let target, name.hasPrefix("checkpoint") else { return false }
    lock.lock()
    defer { lock.unlock() }
    checkpointWrites += 1
    return checkpointWrites == target
  }

  /// Sends SIGKILL to this process.
  static func killNow() {
    kill(getpid(), SIGKILL)
    while true { pause() }
  }
}
