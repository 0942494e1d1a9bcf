import DinoIR

/// The constants of the plan.bin format (IR/PLAN_FORMAT.md).
public enum PlanFormat {
  /// The first eight bytes of every plan.
  public static let magic: [UInt8] = Array("DINOPLAN".utf8)
  /// The most absorbed locations one fused node carries.
  public static let maxAbsorbed = 4096
  /// The format version this module writes and the newest it reads.
  public static let version: UInt32 = 1
  /// Written as a little-endian u32: the bytes `04 03 02 01`.
  public static let byteOrderMark: UInt32 = 0x0102_0304
  /// Bytes in the fixed header, before the section table.
  public static let headerSize = 48
  /// Bytes per section table entry.
  public static let sectionEntrySize = 32
  /// The largest tensor rank a plan may hold (the kernels' `DINO_MAX_RANK`).
  public static let maxRank = 6
  /// Metadata key under which dinoc records its version.
  public static let compilerVersionKey = "compiler_version"
  /// Metadata key under which dinoc records the SHA-256 of model.swift.
  public static let sourceHashKey = "source_hash"

  /// The sections of a version-1 plan, in file order; the raw value is the kind code.
  public enum Section: UInt32, CaseIterable, Sendable {
    /// The string table.
    case strings = 1
    /// The programs' nodes.
    case programs = 2
    /// The programs' named outputs.
    case outputs = 3
    /// The programs' arena sizes.
    case arenas = 4
    /// The persistent buffers and their region layout.
    case buffers = 5
    /// The hyper-parameters.
    case hyper = 6
    /// The stage and the metadata (compiler version, source hash, …).
    case metadata = 7

    /// The section's name in messages.
    public var name: String { String(describing: self) }
  }

  /// The text the op-table fingerprint hashes: one line per op of `IR/ops.def`, in table
  /// order, `name|family|arity|inplace|mutates|attrs` (arity -1 for variadic, mutates in
  /// decimal), each line ending in `\n`.
  public static var opTableText: String {
    OpKind.allOps.map { op in
      let mutates = op.mutatedOperands.reduce(0) { $0 | (1 << $1) }
      let attrs = op.attrSchema.map { "\($0.name):\($0.kind.rawValue)" }.joined(separator: ",")
      return
        "\(op.name)|\(op.family.rawValue)|\(op.arity ?? -1)|\(op.allowsInPlace ? 1 : 0)|\(mutates)|\(attrs)\n"
    }.joined()
  }

  /// FNV-1a (64-bit) of `opTableText`'s UTF-8 bytes: plans record it, and a reader built
  /// from another op table refuses them.
  public static let opTableFingerprint: UInt64 = fnv1a64(Array(opTableText.utf8))

  /// The 64-bit FNV-1a hash of `bytes`.
  public static func fnv1a64(_ bytes: [UInt8]) -> UInt64 {
    var hash: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in bytes {
      hash ^= UInt64(byte)
      hash = hash &* 0x0000_0100_0000_01B3
    }
    return hash
  }

  /// The CRC-32 (IEEE 802.3, reflected polynomial 0xEDB88320, as zlib) of `bytes[range]`.
  public static func crc32(_ bytes: [UInt8], _ range: Range<Int>, seed: UInt32 = 0) -> UInt32 {
    var crc = ~seed
    bytes.withUnsafeBufferPointer { buffer in
      for i in range {
        crc = crcTable[Int((crc ^ UInt32(buffer[i])) & 0xFF)] ^ (crc >> 8)
      }
    }
    return ~crc
  }

  /// The byte-wise CRC-32 lookup table.
  private static let crcTable: [UInt32] = (0..<256).map { n in
    var c = UInt32(n)
    for _ in 0..<8 { c = c & 1 != 0 ? 0xEDB8_8320 ^ (c >> 1) : c >> 1 }
    return c
  }

  /// The dtype codes: 0 f32, 1 i32.
  static func code(_ dtype: DType) -> UInt8 { dtype == .f32 ? 0 : 1 }
  /// The dtype of a code, `nil` for an unknown code.
  static func dtype(_ code: UInt8) -> DType? { code == 0 ? .f32 : code == 1 ? .i32 : nil }
}
