import ArgumentParser
import Foundation

/// `dino-run`: executes compiled plans: training, evaluation, and single programs.
@main
struct DinoRunCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dino-run",
    abstract: "Run a compiled dino plan (plan.bin) on the CPU.",
    subcommands: [
      Train.self, Step.self, KNN.self, Linear.self, Features.self, Attention.self, Export.self,
      Crops.self, Exec.self, Benchmark.self,
        // One file per subcommand.
    ],
    defaultSubcommand: Train.self)

  /// Parses the command line and runs the subcommand; a `CommandFailure` prints
  /// `dino-run: error: …` on stderr and exits with status 1.
  static func main() {
    do {
      var command = try parseAsRoot()
      try command.run()
    } catch let failure as CommandFailure {
      FileHandle.standardError.write(Data("dino-run: error: \(failure.message)\n".utf8))
      exit(withError: ExitCode.failure)
    } catch {
      exit(withError: error)
    }
  }
}

/// A failure a subcommand reports as one line: `dino-run: error: <message>`.
struct CommandFailure: Error {
  /// The message, without the `dino-run: error:` prefix.
  var message: String
  /// Creates a failure.
  init(_ message: String) { self.message = message }
}
