/// `512B`, `1.5KiB`, `73.9MiB`, `1.2GiB`: one decimal, rounded half up (binary units).
/// - Parameter n: a byte count.
public func byteText(_ n: Int) -> String {
  let units = [(1 << 30, "GiB"), (1 << 20, "MiB"), (1 << 10, "KiB")]
  for (unit, suffix) in units where n >= unit {
    let tenths = (n * 10 + unit / 2) / unit
    return "\(tenths / 10).\(tenths % 10)\(suffix)"
  }
  return "\(n)B"
}
