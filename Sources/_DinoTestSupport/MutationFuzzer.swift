import DinoRandom
import Dispatch
import Foundation
import XCTest

/// A deterministic mutation fuzzer for the parsers that read files: from a seed and a
/// corpus it derives inputs by bit flips, byte overwrites with boundary values, truncations,
/// deletions, duplications, splices of two corpus entries and random bytes, and feeds each
/// to a target for a bounded time.
///
/// Every input must finish within `perInputLimit` seconds (a hang is reported with the seed
/// and the input's number), and the process's peak resident memory may not grow by more
/// than `memoryLimit` bytes over the run (an unbounded allocation). A crash ends the test
/// process; rerun with the reported seed (`tools/fuzz.sh`) to reproduce it.
public struct MutationFuzzer {
  /// What a run did.
  public struct Report: CustomStringConvertible {
    /// Inputs tried.
    public var inputs = 0
    /// Inputs the target accepted (did not throw).
    public var accepted = 0
    /// The slowest input, in seconds.
    public var slowest = 0.0
    /// Peak resident memory growth, in bytes.
    public var memoryGrowth = 0
    /// The first hang, if any: the input's number and bytes.
    public var hang: (number: Int, input: [UInt8])?

    /// `1234 inputs (56 accepted), slowest 0.012 s, memory +3 MiB`.
    public var description: String {
      "\(inputs) inputs (\(accepted) accepted), slowest "
        + String(format: "%.3f", slowest) + " s, memory +\(memoryGrowth >> 20) MiB"
    }
  }

  /// The seed of the mutation sequence.
  public let seed: UInt64
  /// The most seconds one input may take.
  public var perInputLimit = 5.0
  /// The most peak-memory growth allowed over the run, in bytes.
  public var memoryLimit = 1 << 30
  private var stream: SplitMix64

  /// A fuzzer whose inputs are a function of `seed` (and the corpus) only.
  public init(seed: UInt64) {
    self.seed = seed
    stream = SplitMix64(seed: seed &+ CounterRandom.gamma)
  }

  /// The run's length: `DINO_FUZZ_SECONDS` from the environment (set by tools/fuzz.sh),
  /// else `defaultSeconds`.
  public static func seconds(default defaultSeconds: Double) -> Double {
    ProcessInfo.processInfo.environment["DINO_FUZZ_SECONDS"].flatMap(Double.init)
      ?? defaultSeconds
  }

  /// The seed: `DINO_FUZZ_SEED` from the environment, else `defaultSeed`.
  public static func seed(default defaultSeed: UInt64) -> UInt64 {
    ProcessInfo.processInfo.environment["DINO_FUZZ_SEED"].flatMap { UInt64($0) } ?? defaultSeed
  }

  /// A pseudo-random number (splitmix64).
  public mutating func next() -> UInt64 { stream.next() }

  /// A number in 0..<bound (0 for bound 0).
  public mutating func below(_ bound: Int) -> Int {
    bound <= 0 ? 0 : Int(next() % UInt64(bound))
  }

  /// One to four mutations of a corpus entry (another entry for splices).
  public mutating func mutate(_ corpus: [[UInt8]]) -> [UInt8] {
    var bytes = corpus[below(corpus.count)]
    for _ in 0...below(4) {
      bytes = mutateOnce(bytes, corpus: corpus)
    }
    return bytes
  }

  private mutating func mutateOnce(_ input: [UInt8], corpus: [[UInt8]]) -> [UInt8] {
    var bytes = input
    let boundaries: [UInt8] = [0x00, 0x01, 0x7F, 0x80, 0xFF, 0x30, 0x39, 0x2D, 0x22, 0x5B]
    switch below(9) {
    case 0 where !bytes.isEmpty:  // flip one bit
      bytes[below(bytes.count)] ^= UInt8(1) << UInt8(below(8))
    case 1 where !bytes.isEmpty:  // a boundary byte
      bytes[below(bytes.count)] = boundaries[below(boundaries.count)]
    case 2 where bytes.count >= 4:  // a boundary 32-bit value (little-endian)
      let at = below(bytes.count - 3)
      let value: UInt32 = [0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0xFFFF][below(6)]
      for k in 0..<4 { bytes[at + k] = UInt8(truncatingIfNeeded: value >> (8 * UInt32(k))) }
    case 3:  // truncate
      bytes = Array(bytes.prefix(below(bytes.count + 1)))
    case 4 where !bytes.isEmpty:  // delete a range
      let start = below(bytes.count)
      let end = min(bytes.count, start + 1 + below(64))
      bytes.removeSubrange(start..<end)
    case 5 where !bytes.isEmpty:  // duplicate a range
      let start = below(bytes.count)
      let end = min(bytes.count, start + 1 + below(64))
      bytes.insert(contentsOf: bytes[start..<end], at: below(bytes.count + 1))
    case 6:  // splice with another entry
      let other = corpus[below(corpus.count)]
      bytes =
        Array(bytes.prefix(below(bytes.count + 1)))
        + Array(other.suffix(below(other.count + 1)))
    case 7:  // random bytes inserted
      let fresh = (0..<(1 + below(32))).map { _ in UInt8(truncatingIfNeeded: next()) }
      bytes.insert(contentsOf: fresh, at: below(bytes.count + 1))
    default:  // overwrite a run with one random byte
      guard !bytes.isEmpty else { return bytes }
      let start = below(bytes.count)
      let value = UInt8(truncatingIfNeeded: next())
      for i in start..<min(bytes.count, start + 1 + below(16)) { bytes[i] = value }
    }
    return bytes
  }

  /// Feeds mutated inputs to `target` for `seconds` (the corpus itself first). `target`
  /// returns normally for an accepted input and throws for a refused one; any other outcome
  /// (a crash, a hang, runaway memory) is a failure.
  /// `fixup` may repair each mutated input (recompute checksums) so that the mutations reach
  /// the parsers behind a format's integrity checks.
  public mutating func run(
    corpus: [[UInt8]], seconds: Double, fixup: ([UInt8]) -> [UInt8] = { $0 },
    target: @escaping @Sendable ([UInt8]) throws -> Void
  ) -> Report {
    precondition(!corpus.isEmpty, "the corpus is empty")
    var report = Report()
    let startMemory = Self.peakResidentBytes()
    let end = Date().addingTimeInterval(seconds)
    var number = 0
    while Date() < end || number < corpus.count {
      let input = number < corpus.count ? corpus[number] : fixup(mutate(corpus))
      number += 1
      let started = Date()
      let done = DispatchSemaphore(value: 0)
      nonisolated(unsafe) var accepted = false
      DispatchQueue.global().async {
        accepted = (try? target(input)) != nil
        done.signal()
      }
      if done.wait(timeout: .now() + perInputLimit) == .timedOut {
        report.hang = (number, input)
        report.inputs = number
        return report
      }
      report.inputs = number
      if accepted { report.accepted += 1 }
      report.slowest = max(report.slowest, Date().timeIntervalSince(started))
    }
    report.memoryGrowth = max(0, Self.peakResidentBytes() - startMemory)
    return report
  }

  /// The process's peak resident memory (`ru_maxrss`), in bytes.
  public static func peakResidentBytes() -> Int {
    var usage = rusage()
    #if canImport(Glibc)
      getrusage(RUSAGE_SELF.rawValue, &usage)
    #else
      getrusage(RUSAGE_SELF, &usage)
    #endif
    return Int(usage.ru_maxrss) * 1024
  }

  /// The files of `folder` (sorted by name) as byte arrays.
  public static func corpus(in folder: String) throws -> [[UInt8]] {
    let names = try FileManager.default.contentsOfDirectory(atPath: folder).sorted()
    return try names.filter { !$0.hasPrefix(".") }.map {
      Array(try Data(contentsOf: URL(fileURLWithPath: folder + "/" + $0)))
    }
  }

  /// Asserts a clean report: no hang, memory growth within the limit, more inputs than
  /// the corpus; prints the report (name, seed) so that a longer run can be compared.
  public func check(
    _ report: Report, _ name: String, corpusSize: Int, file: StaticString = #filePath,
    line: UInt = #line
  ) {
    print("fuzz \(name) seed \(seed): \(report)")
    if let hang = report.hang {
      XCTFail(
        "fuzz \(name) seed \(seed): input \(hang.number) ran over \(perInputLimit) s; its first "
          + "bytes: \(hang.input.prefix(64).map { String($0, radix: 16) })", file: file,
        line: line)
    }
    XCTAssertLessThan(
      report.memoryGrowth, memoryLimit, "fuzz \(name): peak memory grew", file: file, line: line)
    XCTAssertGreaterThan(
      report.inputs, corpusSize, "fuzz \(name) ran no mutations", file: file,
      line: line)
  }

  /// `Tests/Fuzz/Corpus/<name>` of the package this file belongs to.
  public static func corpusFolder(_ name: String) -> String {
    var url = URL(fileURLWithPath: #filePath)
    for _ in 0..<3 { url.deleteLastPathComponent() }
    return url.path + "/Tests/Fuzz/Corpus/" + name
  }
}
