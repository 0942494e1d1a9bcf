import CDinoKernels
import DinoRandom
import Foundation
import XCTest
import _DinoTestSupport

/// Checks of kernel semantics against values computed independently of the C code:
/// the RNG, drop-path statistics, AdamW by hand, GELU accuracy, and the executor's one guard.
final class KernelSemanticsTests: XCTestCase {
  /// IR/CONTRACT.md's RNG in Swift: DinoRandom's definition.
  private func hash(_ k0: UInt64, _ k1: UInt64, _ k2: UInt64, _ k3: UInt64) -> UInt64 {
    CounterRandom.hash(k0, k1, k2, k3)
  }

  func testHashMatchesTheDefinition() {
    XCTAssertEqual(dino_splitmix64(0), 0xE220_A839_7B1D_CDAF)  // SplitMix64's first output for seed 0
    for k in 0..<50 as Range<UInt64> {
      XCTAssertEqual(dino_hash(k, k * 3, 7, k ^ 5), hash(k, k * 3, 7, k ^ 5))
    }
    XCTAssertEqual(dino_uniform01(UInt64.max), Float(0xFF_FFFF) / Float(1 << 24))
    XCTAssertEqual(dino_uniform01(0), 0)
  }

  private func dropPathMask(
    seed: Int32, stream: Int64, batch: Int, rate: Float, rows: dino_row_map = dino_row_map()
  ) throws -> [Float] {
    var rng = TestRNG(seed: 1)
    var c = KernelCase(
      .dropPathMask, [[]], out: [batch], iattr: [stream, Int64(batch)], fattr: [rate], rng: &rng
    ) { _, _ in
      Float(bitPattern: UInt32(bitPattern: seed))
    }
    c.int32Operands = [0]
    return try runKernel(c, threads: 2, rows: rows).out
  }

  /// Data parallelism: rank r of N, holding B images per view at global positions
  /// r, r + N, …, draws for its row v·B + j the mask entry of global row v·N·B + r + N·j,
  /// so the ranks together draw the masks of one process with the global batch N·B.
  func testDropPathRowsOfRanksAreTheGlobalBatchRows() throws {
    let (views, perRank, world) = (3, 4, 3)
    let global = try dropPathMask(seed: 77, stream: 5, batch: views * perRank * world, rate: 0.5)
    for rank in 0..<world {
      let local = try dropPathMask(
        seed: 77, stream: 5, batch: views * perRank, rate: 0.5,
        rows: dino_row_map(rank: Int64(rank), world: Int64(world), per_rank: Int64(perRank)))
      for v in 0..<views {
        for j in 0..<perRank {
          XCTAssertEqual(
            local[v * perRank + j], global[v * perRank * world + rank + world * j],
            "rank \(rank) view \(v) item \(j)")
        }
      }
    }
    // A world of one keeps every row its own.
    XCTAssertEqual(
      try dropPathMask(
        seed: 77, stream: 5, batch: 12, rate: 0.5,
        rows: dino_row_map(rank: 0, world: 1, per_rank: 4)),
      try dropPathMask(seed: 77, stream: 5, batch: 12, rate: 0.5))
  }

  func testDropPathMaskStatisticsAndKeys() throws {
    let rate: Float = 0.25, n = 20_000
    let mask = try dropPathMask(seed: -12345, stream: 3, batch: n, rate: rate)
    XCTAssert(mask.allSatisfy { $0 == 0 || $0 == 1 / (1 - rate) }, "entries are 0 or 1/(1-rate)")
    let kept = Double(mask.filter { $0 != 0 }.count) / Double(n)
    XCTAssertEqual(kept, 0.75, accuracy: 0.015)  // ±5σ
    let mean = mask.reduce(0, +) / Float(n)
    XCTAssertEqual(mean, 1, accuracy: 0.02, "the mask preserves the expectation")
    // Each entry follows the definition: keep iff uniform01(hash(seed as u32, stream, b, 0)) < 1 − rate.
    for b in [0, 1, 2, 777, n - 1] {
      let h = hash(UInt64(UInt32(bitPattern: -12345)), 3, UInt64(b), 0)
      let u = Float(h >> 40) / Float(1 << 24)
      XCTAssertEqual(mask[b] != 0, u < 1 - rate, "entry \(b)")
    }
    XCTAssertEqual(
      try dropPathMask(seed: -12345, stream: 3, batch: n, rate: rate), mask, "same key, same mask")
    XCTAssertNotEqual(
      try dropPathMask(seed: -12345, stream: 4, batch: n, rate: rate), mask, "streams differ")
    XCTAssertNotEqual(
      try dropPathMask(seed: 1, stream: 3, batch: n, rate: rate), mask, "seeds differ")
    XCTAssertEqual(
      try dropPathMask(seed: 9, stream: 0, batch: 64, rate: 0), [Float](repeating: 1, count: 64))
  }

  /// AdamW on p = [1, −2], g = [0.5, −0.1], m = v = 0, t = 0, lr = 0.1, wd = 0.5:
  /// t = 1, bias corrections 0.1 and 0.001, so m̂/√v̂ = sign(g) and
  /// p = p·(1 − 0.05·decay) − 0.1·sign(g). With `ref` the Swift Double reference runs it.
  private func adamw(decay: Int64, gate: Float, ref: Bool) throws -> KernelRun {
    var rng = TestRNG(seed: 2)
    var c = KernelCase(
      .adamwUpdate, [[2], [2], [2], [2], [], [], [], []], out: [],
      iattr: [decay], fattr: [0.9, 0.999, 1e-8], rng: &rng)
    c.data = [[1, -2], [0.5, -0.1], [0, 0], [0, 0], [0], [0.1], [0.5], [gate]]
    return try ref ? referenceRun(c) : runKernel(c, threads: 2)
  }

  func testAdamWAgainstHandComputedValues() throws {
    for ref in [false, true] {
      let withDecay = try adamw(decay: 1, gate: 1, ref: ref)
      XCTAssertEqual(withDecay.operands[0][0], 0.85, accuracy: 2e-6)
      XCTAssertEqual(withDecay.operands[0][1], -1.8, accuracy: 2e-6)
      XCTAssertEqual(withDecay.operands[2][0], 0.05, accuracy: 1e-7)  // m = 0.1·g
      XCTAssertEqual(withDecay.operands[2][1], -0.01, accuracy: 1e-7)
      XCTAssertEqual(withDecay.operands[3][0], 0.00025, accuracy: 1e-8)  // v = 0.001·g²
      XCTAssertEqual(withDecay.operands[3][1], 0.00001, accuracy: 1e-9)
      XCTAssertEqual(withDecay.operands[4], [1], "the step count advances")
      let noDecay = try adamw(decay: 0, gate: 1, ref: ref)
      XCTAssertEqual(noDecay.operands[0][0], 0.9, accuracy: 2e-6)
      XCTAssertEqual(noDecay.operands[0][1], -1.9, accuracy: 2e-6)
      let gated = try adamw(decay: 1, gate: 0, ref: ref)
      XCTAssertEqual(gated.operands[0], [1, -2], "gate 0 leaves p alone")
      XCTAssertEqual(gated.operands[2], [0, 0], "and m")
      XCTAssertEqual(gated.operands[3], [0, 0], "and v")
      XCTAssertEqual(gated.operands[4], [0], "and the step count")
    }
  }

  func testEmaAndClipGradCoefByHand() throws {
    var rng = TestRNG(seed: 3)
    var ema = KernelCase(.emaUpdate, [[3], [3], []], out: [], rng: &rng)
    ema.data = [[1, 2, 3], [3, 2, 1], [0.75]]
    let e = try runKernel(ema)
    XCTAssertEqual(e.operands[0], [1.5, 2, 2.5])
    var clip = KernelCase(.clipGradCoef, [[2]], out: [], fattr: [1], rng: &rng)
    clip.data = [[3, 4]]
    XCTAssertEqual(try runKernel(clip).out[0], Float(1.0 / (5.0 + 1e-6)), accuracy: 1e-7)
    clip.fattr = [10]
    XCTAssertEqual(try runKernel(clip).out, [1])
  }

  func testGeluErfAccuracyOverTheWholeRange() throws {
    var rng = TestRNG(seed: 4)
    let n = 120_001
    var c = KernelCase(.gelu, [[n]], out: [n], rng: &rng)
    c.data = [(0..<n).map { Float($0 - n / 2) * 1e-4 }]  // [-6, 6] in steps of 1e-4
    let y = try runKernel(c, threads: 2).out
    var worst: Double = 0
    for (x, v) in zip(c.data[0], y) {
      let exact = 0.5 * Double(x) * (1 + erf(Double(x) / 2.0.squareRoot()))
      worst = max(worst, abs(Double(v) - exact) / max(1, abs(Double(x))))
    }
    XCTAssertLessThan(worst, 2e-7, "GELU error per unit |x| (erf error ≤ ~1e-7)")
  }

  /// Shape, index and buffer errors are refused when a plan is loaded
  /// (DinoRuntimeTests.LoadValidationTests); the executor itself skips leaves and names an
  /// op outside the table, its one guard.
  func testLeavesAreSkippedAndAnUnknownOpIsNamed() {
    var tensors = [Float](repeating: 0.5, count: 12)
    tensors.withUnsafeMutableBytes { raw in
      let base = raw.baseAddress!
      var table = [
        makeTensor(base, [2, 3], int32: false), makeTensor(base + 24, [2, 3], int32: false),
      ]
      var prog = [
        makeInstr(.input, inputs: [], out: 0),
        makeInstr(.gelu, inputs: [0], out: 1),
      ]
      var ctx = dino_exec_ctx()
      table.withUnsafeMutableBufferPointer { t in
        ctx.tensors = t.baseAddress
        ctx.n_tensors = 2
        XCTAssertEqual(dino_exec(&prog, 2, &ctx), 0, errorText(ctx))
        let gelu = 0.25 * (1 + erf(0.5 / 2.0.squareRoot()))  // GELU(0.5)
        XCTAssertEqual(Double(t[1].data!.load(as: Float.self)), gelu, accuracy: 1e-6)
        prog[1].op = 999
        XCTAssertEqual(dino_exec(&prog, 2, &ctx), 2)
        XCTAssertEqual(errorText(ctx), "instruction 1: unknown op 999")
      }
    }
  }
}
