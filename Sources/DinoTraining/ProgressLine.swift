import Foundation

/// The live status line of a training run on a terminal: rewritten in place with `\r`
/// (and cleared to the end of the line); `end()` before any other line keeps log lines and
/// the status line from overwriting each other. Off a terminal it prints nothing.
public final class ProgressLine {
  /// Whether the line is drawn (stdout is a terminal).
  public let isLive: Bool
  private var showing = false
  private var lastDrawn = -Double.infinity

  /// A line drawn when `live`.
  public init(live: Bool) { isLive = live }

  /// Whether standard output is a terminal.
  public static var stdoutIsTerminal: Bool { isatty(STDOUT_FILENO) == 1 }

  /// Redraws the line with `text` (at most every `interval` seconds unless `force`).
  public func show(_ text: String, force: Bool = false, interval: Double = 0.2) {
    guard isLive else { return }
    let now = StepGuard.now()
    guard force || now - lastDrawn >= interval else { return }
    lastDrawn = now
    Self.write("\r" + text + "\u{1B}[K")
    showing = true
  }

  /// Ends the line with a newline if one is showing.
  public func end() {
    guard showing else { return }
    Self.write("\n")
    showing = false
  }

  /// Writes `text` to standard output unbuffered (a terminal line-buffers `print`, whose
  /// lines end in newlines, so the order is kept).
  private static func write(_ text: String) {
    FileHandle.standardOutput.write(Data(text.utf8))
  }
}
