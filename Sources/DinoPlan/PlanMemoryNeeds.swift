import DinoIR
import Foundation

/// The memory a runtime allocates for a plan, known before it allocates anything: every
/// program's arena, the persistent regions (parameters, teacher, Adam state, center) and
/// the input staging buffers. Sums saturate at `Int.max` instead of overflowing.
public struct PlanMemoryNeeds: Sendable, Equatable {
  /// The arenas of all programs, in bytes.
  public var arenas: Int
  /// The persistent regions, in bytes.
  public var persistent: Int
  /// The staging buffers of the programs' inputs, in bytes.
  public var inputs: Int

  /// Everything together (saturating).
  public var total: Int { Self.sum([arenas, persistent, inputs]) }

  /// The needs of `graph` (a planned graph; unplanned programs count no arena).
  public init(_ graph: Graph) {
    arenas = Self.sum(graph.programs.map { $0.arenaBytes ?? 0 })
    persistent = Self.sum(PersistentLayout(graph).regionBytes.values.map { $0 })
    inputs = Self.sum(
      graph.programs.flatMap { program in
        program.nodes.filter { $0.op == .input }.map { Self.bytes($0.type.shape) }
      })
  }

  /// `arena 1.2GiB + persistent 85.3MiB + inputs 4.0MiB = 1.3GiB`.
  public var description: String {
    "arena \(byteText(arenas)) + persistent \(byteText(persistent)) + inputs "
      + "\(byteText(inputs)) = \(byteText(total))"
  }

  /// The bytes of an f32 or i32 tensor of `shape` (4 per element), saturating.
  static func bytes(_ shape: [Int]) -> Int {
    var product = 4
    for extent in shape {
      let (next, overflow) = product.multipliedReportingOverflow(by: max(0, extent))
      if overflow { return Int.max }
      product = next
    }
    return product
  }

  /// The sum of `values`, saturating at `Int.max`.
  static func sum(_ values: [Int]) -> Int {
    var total = 0
    for value in values {
      let (next, overflow) = total.addingReportingOverflow(value)
      if overflow { return Int.max }
      total = next
    }
    return total
  }
}

/// The machine's memory as Linux reports it in /proc/meminfo (nil elsewhere or unreadable).
public enum MachineMemory {
  /// `MemTotal`: physical RAM, in bytes.
  public static var physical: Int? { field("MemTotal") }
  /// `MemAvailable`: what can be allocated without swapping, in bytes.
  public static var available: Int? { field("MemAvailable") }

  /// `1.2GiB`.
  public static func text(_ bytes: Int) -> String { byteText(bytes) }

  /// A `/proc/meminfo` field in bytes (the file gives kB).
  static func field(_ name: String) -> Int? {
    guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else {
      return nil
    }
    for line in text.split(separator: "\n") where line.hasPrefix(name + ":") {
      let number = line.dropFirst(name.count + 1).split(separator: " ").first
      if let kilobytes = number.flatMap({ Int($0) }) { return kilobytes * 1024 }
    }
    return nil
  }
}
