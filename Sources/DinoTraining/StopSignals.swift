#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// SIGINT and SIGTERM as a request to stop training after the current step.
///
/// While installed, the handlers only record the signal (an async-signal-safe store); the
/// training loop polls `pending` between steps, saves a checkpoint and returns. A second
/// signal during that save is recorded the same way and changes nothing.
public enum StopSignals {
  /// The signals handled.
  public static let handled: [Int32] = [SIGINT, SIGTERM]

  /// The last signal received (0: none); a fixed cell, so the handler touches no Swift
  /// runtime state.
  nonisolated(unsafe) private static let cell: UnsafeMutablePointer<Int32> = {
    let cell = UnsafeMutablePointer<Int32>.allocate(capacity: 1)
    cell.initialize(to: 0)
    return cell
  }()

  /// A C signal handler.
  private typealias Handler = @convention(c) (Int32) -> Void
  nonisolated(unsafe) private static var previous: [Int32: Handler?] = [:]

  /// Installs the handlers (idempotent) and clears any pending request.
  public static func install() {
    let cell = self.cell  // initialised before any handler can run
    cell.pointee = 0
    for number in handled where previous.index(forKey: number) == nil {
      previous[number] = signal(number) { received in StopSignals.record(received) }
    }
  }

  /// Puts the previous handlers back.
  public static func uninstall() {
    for (number, handler) in previous { _ = signal(number, handler ?? SIG_DFL) }
    previous = [:]
  }

  /// Records `signal` as if it had been received (tests; the handler itself).
  public static func record(_ signal: Int32) { cell.pointee = signal }

  /// The signal received since `install`, if any.
  public static var pending: Int32? {
    let value = cell.pointee
    return value == 0 ? nil : value
  }

  /// `SIGINT`, `SIGTERM`, or `signal N`.
  public static func name(_ signal: Int32) -> String {
    switch signal {
    case SIGINT: "SIGINT"
    case SIGTERM: "SIGTERM"
    default: "signal \(signal)"
    }
  }
}
