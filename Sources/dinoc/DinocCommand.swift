import ArgumentParser

/// dinoc's version, recorded in the model cache key and plan metadata.
let dinocVersion = "0.1.0"

/// `dinoc`: the dino compiler's command line. One file per subcommand.
@main
struct DinocCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "dinoc",
    abstract: "Compile a DINO model description (model.swift) into a training plan.",
    version: dinocVersion,
    subcommands: [Compile.self])

  /// Parses the command line after splitting joined defines (`-Ddim=64` → `-D dim=64`), which
  /// swift-argument-parser would read as an option named `-Ddim`.
  static func main() {
    let arguments = CommandLine.arguments.dropFirst().flatMap { argument in
      argument.hasPrefix("-D") && argument.count > 2
        ? ["-D", String(argument.dropFirst(2))] : [argument]
    }
    main(arguments)
  }
}
