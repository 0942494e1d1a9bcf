import DinoIR
import DinoPasses
import XCTest

@testable import DinoPlan

/// Plans for the plan.bin tests.
enum PlanFixtures {
  /// Three programs using every attribute kind (int, float, string, int list, float list),
  /// both dtypes, constants (inline and out-of-line data), backward flags, inferred
  /// locations, scopes, effect ops, hyper-parameters and metadata.
  static let text = """
    #dino-ir v1 stage=captured
    file "model.swift"
    meta compiler_version="dinoc 0.1"
    meta note="tab\\there"
    meta source_hash="9f86d081884c7d65"
    hyper batch=2
    hyper lr=0.0005
    hyper momentum_teacher=0.996

    program @train_step {
      %0 = input {name="crop0"} : f32[2,3,8,8]  @ :3:9
      %1 = input {name="seed"} : i32[]
      %2 = input {name="lr"} : f32[]
      %3 = input {name="wd"} : f32[]
      %4 = input {name="last_layer_gate"} : f32[]
      scope student.patch_embed
      %5 = parameter {init="trunc_normal(0.02,-2,2)", name="student.patch_embed.weight", trainable=1} : f32[8,3,4,4]  @ :5:7
      %6 = parameter {init="zeros", name="student.patch_embed.bias", trainable=1} : f32[8]  @ :5:7
      %7 = patch_embed(%0, %5, %6) {patch=4} : f32[2,4,8]  @ :10:5
      scope student.blocks.0
      %8 = parameter {init="ones", name="student.blocks.0.norm.weight", trainable=1} : f32[8]
      %9 = parameter {init="zeros", name="student.blocks.0.norm.bias", trainable=1} : f32[8]
      %10 = layer_norm(%7, %8, %9) {eps=1e-06} : f32[2,4,8]  @ :11:5
      %11 = drop_path_mask(%1) {batch=2, rate=0.1, stream=3} : f32[2]  @ :12:5
      %12 = reshape(%11) {shape=[2,1,1]} : f32[2,1,1]  @ :12:5
      %13 = mul(%10, %12) : f32[2,4,8]  @ ~:12:5
      %14 = add(%7, %13) : f32[2,4,8]  @ ~:12:5
      %15 = permute(%14) {perm=[0,2,1]} : f32[2,8,4]
      %16 = slice(%15) {axis=2, end=3, start=1} : f32[2,8,2]
      %17 = pad(%16) {after=1, axis=2, before=1} : f32[2,8,4]
      %18 = concat(%15, %17) {axis=1} : f32[2,16,4]
      %19 = reduce_mean(%18) {axis=1, keepdims=0} : f32[2,4]
      scope student.head
      %20 = parameter {init="normal(0.02)", name="student.head.last_layer.weight_v", trainable=1} : f32[16,4]
      %21 = parameter {init="ones", name="student.head.last_layer.weight_g", trainable=1} : f32[16,1]
      %22 = weight_norm(%20, %21) : f32[16,4]  @ :20:9
      %23 = l2_normalize(%19) {eps=1e-12} : f32[2,4]  @ :21:9
      %24 = matmul(%23, %22) {trans_a=0, trans_b=1} : f32[2,16]  @ :22:9
      scope ""
      %25 = constant {data=[1.0,2.0,3.0,4.0,0.5,0.25,0.125,0.0625,1e-06,-3.5,100.0,7.0,0.1,0.2,0.3,1000000.0]} : f32[16]
      %26 = sub(%24, %25) : f32[2,16]
      %27 = scale(%26) {factor=10.0} : f32[2,16]
      %28 = log_softmax(%27) : f32[2,16]
      %29 = softmax(%27) : f32[2,16]
      %30 = mul(%29, %28) : f32[2,16]
      %31 = reduce_sum(%30) {axis=1, keepdims=0} : f32[2]
      %32 = reduce_mean(%31) {axis=0, keepdims=0} : f32[]
      %33 = scale(%32) {factor=-1.0} : f32[]
      %34 = broadcast_to(%32) {shape=[2,16]} : f32[2,16]  bw
      %35 = softmax_bwd(%34, %29) : f32[2,16]  bw
      %36 = matmul(%35, %23) {trans_a=1, trans_b=0} : f32[16,4]  @ :22:9 bw
      %37 = weight_norm_bwd_v(%36, %20, %21) : f32[16,4]  @ :20:9 bw
      %38 = weight_norm_bwd_g(%36, %20) : f32[16,1]  @ :20:9 bw
      %39 = sum_to(%35) {shape=[16]} : f32[16]  bw
      scope optimizer.student.head.last_layer.weight_v
      %40 = clip_grad_coef(%37) {max_norm=3.0} : f32[]
      %41 = mul(%37, %40) : f32[16,4]
      %42 = parameter {init="zeros", name="adam_m.student.head.last_layer.weight_v", trainable=0} : f32[16,4]
      %43 = parameter {init="zeros", name="adam_v.student.head.last_layer.weight_v", trainable=0} : f32[16,4]
      %44 = parameter {init="zeros", name="adam_step.student.head.last_layer.weight_v", trainable=0} : f32[]
      %45 = adamw_update(%20, %41, %42, %43, %44, %2, %3, %4) {beta1=0.9, beta2=0.999, decay=1, eps=1e-08} : f32[]
      scope center
      %46 = parameter {init="zeros", name="center", trainable=0} : f32[1,16]
      %47 = reduce_mean(%24) {axis=0, keepdims=1} : f32[1,16]
      %48 = assign(%46, %47) : f32[]
      scope ""
      %49 = gelu(%39) : f32[16]
      %50 = gelu_bwd(%49, %39) : f32[16]  bw
      %51 = layer_norm_bwd(%14, %7, %8) {eps=1e-06} : f32[2,4,8]  bw
      %52 = layer_norm_bwd_gamma(%14, %7) {eps=1e-06} : f32[8]  bw
      %53 = l2_normalize_bwd(%23, %19) {eps=1e-12} : f32[2,4]  bw
      %54 = log_softmax_bwd(%34, %28) : f32[2,16]  bw
      %55 = patchify(%0) {patch=4} : f32[2,4,48]
      %56 = parameter {init="uniform(-0.1,0.1)", name="student.proj.weight", trainable=1} : f32[8,48]
      %57 = parameter {init="const(0.5)", name="student.proj.bias", trainable=1} : f32[8]
      %58 = linear(%55, %56, %57) : f32[2,4,8]
      %59 = reduce_sum(%58) {axis=2, keepdims=0} : f32[2,4]
      %60 = div(%59, %53) : f32[2,4]
      return loss=%33, grad_g=%38, misc=%60, bwd=%51, gamma=%52, ls=%54, g2=%50
    }

    program @ema {
      %0 = input {name="momentum"} : f32[]
      %1 = parameter {init="copy(student.head.last_layer.weight_v)", name="teacher.head.last_layer.weight_v", trainable=0} : f32[16,4]
      %2 = parameter {init="normal(0.02)", name="student.head.last_layer.weight_v", trainable=1} : f32[16,4]
      %3 = ema_update(%1, %2, %0) : f32[]
      return
    }

    program @features {
      %0 = input {name="image"} : f32[2,3,8,8]
      %1 = parameter {init="copy(student.patch_embed.weight)", name="teacher.patch_embed.weight", trainable=0} : f32[8,3,4,4]
      %2 = parameter {init="copy(student.patch_embed.bias)", name="teacher.patch_embed.bias", trainable=0} : f32[8]
      %3 = patch_embed(%0, %1, %2) {patch=4} : f32[2,4,8]
      %4 = reduce_mean(%3) {axis=1, keepdims=0} : f32[2,8]
      return "cls token"=%4
    }
    """

  /// The fixture through the whole pipeline.
  static func planned() throws -> Graph {
    try Pipeline.run(try parseIR(text, fileName: "fixture.ir"))
  }

  /// A small planned graph whose byte layout the structural tests navigate by hand:
  /// one program `@p`: `%0 = input x f32[4]`, `%1 = gelu`, `%2 = scale`, output `y`
  /// (unfused, or the three element-wise nodes would be one `eltwise_chain`).
  static func tiny() throws -> Graph {
    try Pipeline.run(
      try parseIR(
        """
        #dino-ir v1 stage=captured
        hyper lr=0.5
        program @p {
          %0 = input {name="x"} : f32[4]
          %1 = gelu(%0) : f32[4]
          %2 = scale(%1) {factor=2.0} : f32[4]
          %3 = parameter {init="zeros", name="student.w", trainable=1} : f32[4]
          %4 = mul(%2, %3) : f32[4]
          return y=%4
        }
        """), fusing: false)
  }
}

/// Reads and rewrites the fields of an encoded plan, then recomputes its checksums, so that
/// a test can damage the structure while the file still passes every CRC.
struct PlanBytes {
  var bytes: [UInt8]

  /// The byte range of section `kind` (1-based kind code), from the section table.
  func section(_ kind: PlanFormat.Section) -> Range<Int> {
    let entry = PlanFormat.headerSize + PlanFormat.sectionEntrySize * (Int(kind.rawValue) - 1)
    let offset = Int(clamping: u64(at: entry + 8)), length = Int(clamping: u64(at: entry + 16))
    return offset..<max(offset, offset &+ length)
  }

  func u32(at offset: Int) -> UInt32 {
    (0..<4).reduce(0) { $0 | UInt32(bytes[offset + $1]) << (8 * UInt32($1)) }
  }

  func u64(at offset: Int) -> UInt64 {
    (0..<8).reduce(0) { $0 | UInt64(bytes[offset + $1]) << (8 * UInt64($1)) }
  }

  mutating func set32(_ v: UInt32, at offset: Int) {
    for k in 0..<4 { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt32(k))) }
  }

  mutating func set64(_ v: UInt64, at offset: Int) {
    for k in 0..<8 { bytes[offset + k] = UInt8(truncatingIfNeeded: v >> (8 * UInt64(k))) }
  }

  /// Recomputes every section checksum, then the header checksum (as the writer does).
  mutating func reseal() {
    let tableEnd =
      PlanFormat.headerSize + PlanFormat.sectionEntrySize * PlanFormat.Section.allCases.count
    guard bytes.count >= tableEnd else { return }
    for kind in PlanFormat.Section.allCases {
      let entry = PlanFormat.headerSize + PlanFormat.sectionEntrySize * (Int(kind.rawValue) - 1)
      let range = section(kind)
      guard range.lowerBound >= 0, range.lowerBound <= range.upperBound,
        range.upperBound <= bytes.count
      else {
        continue
      }
      set32(PlanFormat.crc32(bytes, range), at: entry + 24)
    }
    set32(
      PlanFormat.crc32(
        bytes, PlanFormat.headerSize..<tableEnd, seed: PlanFormat.crc32(bytes, 0..<44)), at: 44)
  }
}

/// Decodes `bytes`, expecting a `PlanError`; returns its one-line description.
func refusal(
  _ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line
) -> String? {
  do {
    _ = try PlanReader.decode(bytes)
    XCTFail("a damaged plan was accepted", file: file, line: line)
    return nil
  } catch {
    let text = error.description
    XCTAssertFalse(text.contains("\n"), "not one line: \(text)", file: file, line: line)
    XCTAssertTrue(text.contains("(hint: "), text, file: file, line: line)
    return text
  }
}
