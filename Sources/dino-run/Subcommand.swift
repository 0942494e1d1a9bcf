import ArgumentParser
import DinoData
import DinoRuntime
import Foundation

/// A subcommand whose failures are one line, `dino-run: error: <message>`: `run()` calls
/// `execute()` and turns a `RuntimeError` or `DataError` into a `CommandFailure`.
protocol Subcommand: ParsableCommand {
  /// Does the subcommand's work.
  func execute() throws
}

extension Subcommand {
  /// Runs `execute()`; a one-line error becomes a `CommandFailure` with its message.
  func run() throws {
    do {
      try execute()
    } catch let error as any OneLineError {
      throw CommandFailure(error.message)
    }
  }
}

/// An error that is one line of text for the user.
protocol OneLineError: Error {
  /// The line.
  var message: String { get }
}

extension RuntimeError: OneLineError {}
extension DataError: OneLineError {}

/// The `--threads` option of the subcommands that run kernels.
struct ThreadsOption: ParsableArguments {
  /// Kernel threads; results are bitwise reproducible for a given count.
  @Option(help: "Kernel threads (all cores unless given).")
  var threads: Int = ProcessInfo.processInfo.activeProcessorCount

  /// The most kernel threads accepted: 4 × the online cores. More threads than cores only
  /// oversubscribe them (10000 threads ran 300× slower).
  static var maximum: Int { 4 * max(1, ProcessInfo.processInfo.activeProcessorCount) }

  /// `threads`, refused in one line when below 1 or above `maximum`.
  func checked() throws(RuntimeError) -> Int {
    guard threads >= 1, threads <= Self.maximum else {
      throw RuntimeError(
        "--threads \(threads) is outside 1...\(Self.maximum) (4 × the "
          + "\(ProcessInfo.processInfo.activeProcessorCount) cores): give a count in that range")
    }
    return threads
  }
}

/// The `--max-pixels` option of the subcommands that decode images.
struct PixelBudgetOption: ParsableArguments {
  /// The pixel budget of each decoded image.
  @Option(
    help: """
      The most pixels (width × height) an image may decode to; larger ones are skipped \
      before any memory is taken (default 67108864 = 8192 × 8192).
      """)
  var maxPixels: Int = PixelBudget.defaultMaxPixels

  /// Sets the decoders' budget; a value outside 1...32768² is one error line.
  func apply() throws(RuntimeError) {
    do {
      try PixelBudget.set(maxPixels)
    } catch {
      throw RuntimeError(error.message)
    }
  }
}
