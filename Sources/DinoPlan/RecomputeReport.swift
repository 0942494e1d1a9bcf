import DinoIR
import Foundation

/// What the `remat` pass recomputed, from its metadata: `nil` when it recomputed nothing.
///
/// ```
/// recompute: 24 values (30 nodes) recomputed in the backward, arena 180.0MiB smaller, \
/// 0.044 GFLOP (0.03% of the step's 131.42 GFLOP; GEMMs exact, other ops estimated)
///   recomputed: linear_gelu f32[128,50,768] ×6, reshape f32[6400,768] ×6
/// ```
/// - Parameter graph: a graph after the `remat` pass (or a plan read back).
/// - Returns: the lines, joined by newlines, without a final newline.
public func recomputeSummary(_ graph: Graph) -> String? {
  guard let summary = graph.metadata[recomputeMetadataKey] else { return nil }
  var fields: [String: Double] = [:]
  for pair in summary.split(separator: " ") {
    let parts = pair.split(separator: "=", maxSplits: 1)
    if parts.count == 2, let number = Double(parts[1]) { fields[String(parts[0])] = number }
  }
  let flops = fields["flops"] ?? 0, step = fields["step_flops"] ?? 0
  let percent = step > 0 ? String(format: "%.2f", 100 * flops / step) : "?"
  var lines = [
    "recompute: \(Int(fields["values"] ?? 0)) values (\(Int(fields["nodes"] ?? 0)) nodes) "
      + "recomputed in the backward, arena \(byteText(Int(fields["saved"] ?? 0))) smaller, "
      + String(format: "%.3f", flops / 1e9) + " GFLOP (\(percent)% of the step's "
      + String(format: "%.2f", step / 1e9) + " GFLOP; GEMMs exact, other ops estimated)"
  ]
  if let values = graph.metadata[recomputeValuesMetadataKey], !values.isEmpty {
    lines.append("  recomputed: \(values)")
  }
  return lines.joined(separator: "\n")
}
