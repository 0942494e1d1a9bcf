// Why dinoc keeps its own ~40-line process runner instead of swiftlang/swift-subprocess
// (1.0.2, the version available here): the model writes its graph on a dedicated
// descriptor (`-fileno N`, inherited without O_CLOEXEC) while its standard output and error
// go to the user unchanged. swift-subprocess cannot pass such a descriptor: every spawn
// closes all descriptors from 3 up in the child (Subprocess+Spawn.swift adds
// `posix_spawn_file_actions_addclosefrom_np(3)`, or sets POSIX_SPAWN_CLOEXEC_DEFAULT; the
// fork/exec fallback closes them too), and neither `Configuration` nor `PlatformOptions`
// has a way to keep one open. Its only channels are standard input, output and error, which
// dinoc leaves to the user. Checked here: a child started by swift-subprocess 1.0.2 and told
// to write to an inherited descriptor 3 (opened without O_CLOEXEC) failed with "Bad file
// descriptor". Its API is also async-only (a time limit means a task group, cancellation
// and its `teardownSequence`), where dinoc runs synchronously.
import Foundation

/// How a child process ended.
enum Termination: Equatable {
  /// It exited with this status.
  case exited(Int32)
  /// A signal ended it.
  case signalled(Int32)
  /// It ran past the time limit and was killed.
  case timedOut

  /// `exit status 1`, `signal 11 (Segmentation fault)`, `timeout`.
  var description: String {
    switch self {
    case .exited(let status): "exit status \(status)"
    case .signalled(let signal): "signal \(signal) (\(String(cString: strsignal(signal))))"
    case .timedOut: "timeout"
    }
  }
}

/// Child processes started with `posix_spawn`, so that a chosen descriptor survives into the
/// child (Foundation's `Process` closes every descriptor above 2 on Linux). Standard input,
/// output and error are inherited: whatever the child prints reaches the user unchanged.
enum Subprocess {
  /// Runs `executable` with `arguments` and waits for it.
  /// - Parameters:
  ///   - executable: the program's path.
  ///   - arguments: its arguments (without argv[0]).
  ///   - timeout: seconds before the child is killed; `nil` waits forever.
  /// - Returns: how it ended.
  /// - Throws: `DinocError` when it cannot be started.
  static func run(_ executable: String, _ arguments: [String], timeout: Double? = nil)
    throws(DinocError)
    -> Termination
  {
    let argv = ([executable] + arguments).map { strdup($0) } + [nil]
    defer { for pointer in argv { free(pointer) } }
    var pid = pid_t()
    let spawned = posix_spawn(&pid, executable, nil, nil, argv, environ)
    guard spawned == 0 else {
      throw DinocError("cannot run \(executable): \(String(cString: strerror(spawned)))")
    }
    let deadline = timeout.map { Date().addingTimeInterval($0) }
    var status: Int32 = 0
    while true {
      let result = waitpid(pid, &status, deadline == nil ? 0 : WNOHANG)
      if result == pid { break }
      if result < 0 && errno != EINTR {
        throw DinocError("waiting for \(executable) failed: \(String(cString: strerror(errno)))")
      }
      if let deadline, Date() > deadline {
        kill(pid, SIGKILL)
        _ = waitpid(pid, &status, 0)
        return .timedOut
      }
      usleep(2_000)
    }
    let signal = status & 0x7f
    return signal == 0 ? .exited((status >> 8) & 0xff) : .signalled(signal)
  }

  /// The absolute path of `name` on `$PATH`, or `nil`.
  static func find(_ name: String) -> String? {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"
    for directory in path.split(separator: ":") {
      let candidate = "\(directory)/\(name)"
      if access(candidate, X_OK) == 0 { return candidate }
    }
    return nil
  }

  /// `arguments` as one line a POSIX shell reads back as the same arguments.
  static func commandLine(_ arguments: [String]) -> String {
    arguments.map { argument in
      let plain = argument.allSatisfy { $0.isLetter || $0.isNumber || "-_./=:,+@%".contains($0) }
      if plain && !argument.isEmpty { return argument }
      return "'" + argument.replacingOccurrences(of: "'", with: "'\\''") + "'"
    }.joined(separator: " ")
  }
}
