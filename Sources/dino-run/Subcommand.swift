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
}
