import CDinoKernels
import XCTest
import _DinoTestSupport

/// The tiled GEMM (gemm_tiled.c), forced for every GEMM with `dino_set_gemm_kernel`: every
/// layout (NN, NT, TN) on odd M, N, K (edges of the 14 × 32 tile, K past one K block, N past
/// one packed block of B) against the Double oracle and against its documented order (each
/// element fused multiply-adds over k in order from 0); every epilogue op against the Swift
/// Double reference; fused == unfused bit for bit on this GEMM; 1 vs 2 threads and two runs
/// bitwise.
final class TiledGemmTests: XCTestCase {
  override func setUpWithError() throws {
    dino_set_gemm_kernel(Int32(DINO_GEMM_TILED.rawValue))
    guard dino_gemm_kernel_is_tiled(1, 1, 1, 0, 0) != 0 else {
      dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
      throw XCTSkip("this build has no AVX-512F: every GEMM takes OpenBLAS")
    }
  }

  override func tearDown() {
    dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
  }

  private func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }

  /// (M, N, K): 1, 7, 13, 33, 100, 197 mixed; K 700 takes two K blocks, N 600 two B blocks.
  /// Aᵀ·B over long K: (30, 600, 800) three K blocks in two N chunks, its last panel of A
  /// packed; (200, 40, 2100) six K blocks, split along M at 2 threads with a 12-row panel
  /// read in place at the split; (100, 100, 60) square, which Aᵀ·B splits along N.
  /// A not transposed over several K blocks with all of B packed at once (each row panel runs
  /// its K blocks back to back): (43, 100, 1000) three K blocks, a 1-row edge panel and a
  /// 4-column edge tile; (29, 192, 768) B exactly the packing buffer (fc1's input gradient);
  /// (15, 193, 768) one column past it (block by block instead).
  private let shapes = [
    (1, 1, 1), (7, 13, 33), (13, 33, 7), (33, 7, 100), (100, 197, 13), (197, 33, 197),
    (14, 32, 700), (29, 600, 33), (197, 100, 33), (30, 600, 800), (200, 40, 2100),
    (100, 100, 60), (43, 100, 1000), (29, 192, 768), (15, 193, 768),
  ]

  /// (trans_a, trans_b): the layouts the plans use.
  private let layouts: [(Int64, Int64)] = [(0, 0), (0, 1), (1, 0)]

  func testEveryLayoutMatchesTheOracleAndTheKernelOrder() throws {
    var rng = TestRNG(seed: 9_301)
    for (m, n, k) in shapes {
      for (ta, tb) in layouts {
        let a = ta == 1 ? [k, m] : [m, k]
        let b = tb == 1 ? [n, k] : [k, n]
        let c = KernelCase(.matmul, [a, b], out: [m, n], iattr: [ta, tb], rng: &rng)
        let label = "\(m)x\(n)x\(k) trans \(ta)\(tb)"
        let one = try runKernel(c, threads: 1).out
        XCTAssertEqual(bits(one), bits(try runKernel(c, threads: 2).out), "\(label): 1 vs 2")
        XCTAssertEqual(bits(one), bits(try runKernel(c, threads: 2).out), "\(label): 2 runs")
        XCTAssertEqual(bits(one), bits(try runKernel(c, threads: 1).out), "\(label): 2 runs")
        let (da, db) = (c.data[0], c.data[1])
        func aAt(_ i: Int, _ p: Int) -> Float { ta == 1 ? da[p * m + i] : da[i * k + p] }
        func bAt(_ p: Int, _ j: Int) -> Float { tb == 1 ? db[j * k + p] : db[p * n + j] }
        var worst = 0.0
        var outOfOrder = 0
        // Every 5th row and column and the last ones (tile edges): Swift loops are slow in
        // debug builds.
        let rows = Set(Array(stride(from: 0, to: m, by: 5)) + [m - 1])
        let cols = Set(Array(stride(from: 0, to: n, by: 5)) + [n - 1])
        for i in rows {
          for j in cols {
            var exact = 0.0
            var inOrder: Float = 0
            for p in 0..<k {
              exact += Double(aAt(i, p)) * Double(bAt(p, j))
              inOrder.addProduct(aAt(i, p), bAt(p, j))
            }
            let got = one[i * n + j]
            worst = max(worst, abs(Double(got) - exact) / max(1, abs(exact)))
            if got.bitPattern != inOrder.bitPattern { outOfOrder += 1 }
          }
        }
        // A float sum in order over k terms strays ~k·ε/4 from the exact one: 1e-5 up to
        // K = 700, in proportion past it (the long-K weight-gradient shapes).
        let tolerance = k <= 700 ? 1e-5 : 3e-8 * Double(k)
        XCTAssertLessThan(worst, tolerance, "\(label): against the Double oracle")
        XCTAssertEqual(outOfOrder, 0, "\(label): elements not in the kernel's order")
      }
    }
  }

  /// Every GEMM op with an epilogue (and plain linear) on x [rows, inDim] into outDim
  /// columns, with random operands: linear_gelu's pre-activation as its extra result,
  /// matmul_gelu_bwd as A·B and Aᵀ·B, linear_residual_scaled with drop-path scales (0, 1/0.9
  /// and others, one per single-token image).
  private func epilogueCases(rows: Int, inDim: Int, outDim: Int, rng: inout TestRNG)
    -> [KernelCase]
  {
    let x = [rows, inDim], w = [outDim, inDim], bias = [outDim], y = [rows, outDim]
    var cases = [
      KernelCase(.linear, [x, w, bias], out: y, rng: &rng),
      KernelCase(.linearGelu, [x, w, bias], out: y, rng: &rng),
      KernelCase(.linearGeluOnly, [x, w, bias], out: y, rng: &rng),
      KernelCase(.linearResidual, [x, w, bias, y], out: y, rng: &rng),
      KernelCase(.matmulGeluBwd, [x, [inDim, outDim], y], out: y, iattr: [0, 0], rng: &rng),
      KernelCase(.matmulGeluBwd, [[inDim, rows], [inDim, outDim], y], out: y, iattr: [1, 0],
                 rng: &rng),
    ]
    cases[1].extraOuts = [y]
    var scaled = KernelCase(
      .linearResidualScaled, [[rows, 1, inDim], w, bias, [rows, 1, outDim], [rows, 1, 1]],
      out: [rows, 1, outDim], rng: &rng)
    scaled.data[4] = (0..<rows).map { i in [0, 1 / 0.9, rng.float(-2, 2)][i % 3] }
    cases.append(scaled)
    return cases
  }

  /// Each GEMM op with an epilogue, forced onto the tiled GEMM, against the reference.
  func testEveryEpilogueMatchesTheReference() throws {
    var rng = TestRNG(seed: 9_302)
    for (rows, inDim, outDim) in [(7, 13, 33), (197, 33, 100), (29, 700, 45), (43, 1000, 100)] {
      for c in epilogueCases(rows: rows, inDim: inDim, outDim: outDim, rng: &rng) {
        let label = "\(c.op) \(rows)x\(inDim)x\(outDim)"
        let want = try referenceRun(c)
        for threads in [1, 2] {
          let got = try runKernel(c, threads: threads)
          for (g, r) in zip([got.out] + got.extras, [want.out] + want.extras) {
            XCTAssertEqual(g.count, r.count, label)
            for (u, v) in zip(g, r) {
              XCTAssertEqual(u, v, accuracy: 2e-5 * max(1, abs(v)), "\(label) \(threads) threads")
            }
          }
        }
      }
    }
  }

  /// The epilogue runs once per group of up to 4 tiles (128 columns) of a 14-row panel:
  /// widths one short of, at and past a group (127, 128, 129, 257), 700 columns at K = 256
  /// (a 576-column block of B: four whole groups and one of 64; then a block of 124), and
  /// panels of 13, 14, 15 and 43 rows; every epilogue op against the Double reference, 1 vs
  /// 2 threads bitwise.
  func testEpilogueGroupEdges() throws {
    var rng = TestRNG(seed: 9_304)
    for (rows, inDim, outDim) in groupEdgeShapes {
      for c in epilogueCases(rows: rows, inDim: inDim, outDim: outDim, rng: &rng) {
        let label = "\(c.op) \(rows)x\(inDim)x\(outDim)"
        let want = try referenceRun(c)
        let one = try runKernel(c, threads: 1)
        let two = try runKernel(c, threads: 2)
        XCTAssertEqual(bits(one.out), bits(two.out), "\(label): 1 vs 2 threads")
        for (g, r) in zip([one.out] + one.extras, [want.out] + want.extras) {
          XCTAssertEqual(g.count, r.count, label)
          var worst: Float = 0
          for (u, v) in zip(g, r) { worst = max(worst, abs(u - v) / max(1, abs(v))) }
          XCTAssertLessThan(worst, 2e-5, label)
        }
        for (g, r) in zip(one.extras, two.extras) {
          XCTAssertEqual(bits(g), bits(r), "\(label): extra result, 1 vs 2 threads")
        }
      }
    }
  }

  /// (rows, inDim, outDim) around the epilogue's 128-column groups and 14-row panels.
  private let groupEdgeShapes = [(13, 19, 127), (14, 33, 128), (43, 21, 129), (29, 17, 257),
                                 (15, 256, 700)]

  /// The fused ops give the bits of the unfused ones they replace when both run the tiled
  /// GEMM (the epilogue in the tile runs the same float operations in the same order).
  func testFusedIsUnfusedBitwiseOnTheTiledGemm() throws {
    var rng = TestRNG(seed: 9_303)
    let shapes = [(7, 13, 33), (197, 33, 100), (29, 700, 45), (301, 65, 97), (43, 1000, 100)]
    for (rows, inDim, outDim) in shapes {
      try assertFusedIsUnfused(rows: rows, inDim: inDim, outDim: outDim, rng: &rng)
    }
  }

  /// As testFusedIsUnfusedBitwiseOnTheTiledGemm at the epilogue groups' edges.
  func testFusedIsUnfusedBitwiseAtEpilogueGroupEdges() throws {
    var rng = TestRNG(seed: 9_305)
    for (rows, inDim, outDim) in groupEdgeShapes {
      try assertFusedIsUnfused(rows: rows, inDim: inDim, outDim: outDim, rng: &rng)
    }
  }

  /// Every fused GEMM op against the unfused ops it replaces, bit for bit, at 1 and 2
  /// threads, on x [rows, inDim] into outDim columns.
  private func assertFusedIsUnfused(rows: Int, inDim: Int, outDim: Int, rng: inout TestRNG)
    throws
  {
    let y = [rows, outDim]
    let linear = KernelCase(
      .linear, [[rows, inDim], [outDim, inDim], [outDim]], out: y, rng: &rng)
    let other = (0..<rows * outDim).map { _ in rng.float(-4, 4) }
    let scale: [Float] = (0..<rows).map { i in [0, 1 / 0.9, rng.float(-2, 2)][i % 3] }
    for threads in [1, 2] {
      let label = "\(rows)x\(inDim)x\(outDim) \(threads) threads"
      let h = try runKernel(linear, threads: threads).out
      var gelu = KernelCase(.gelu, [y], out: y, rng: &rng)
      gelu.data = [h]
      let g = try runKernel(gelu, threads: threads).out
      var fused = KernelCase(.linearGelu, linear.shapes, out: y, rng: &rng)
      fused.data = linear.data
      fused.extraOuts = [y]
      let run = try runKernel(fused, threads: threads)
      XCTAssertEqual(bits(run.extras[0]), bits(h), "\(label): linear_gelu pre-activation")
      XCTAssertEqual(bits(run.out), bits(g), "\(label): linear_gelu")
      fused.op = .linearGeluOnly
      fused.extraOuts = []
      XCTAssertEqual(bits(try runKernel(fused, threads: threads).out), bits(g), label)
      var add = KernelCase(.add, [y, y], out: y, rng: &rng)
      add.data = [other, h]
      var residual = KernelCase(.linearResidual, linear.shapes + [y], out: y, rng: &rng)
      residual.data = linear.data + [other]
      XCTAssertEqual(
        bits(try runKernel(residual, threads: threads).out),
        bits(try runKernel(add, threads: threads).out), "\(label): linear_residual")
      let tokens = [rows, 1, outDim]
      var mul = KernelCase(.mul, [tokens, [rows, 1, 1]], out: tokens, rng: &rng)
      mul.data = [h, scale]
      add.data = [other, try runKernel(mul, threads: threads).out]
      var scaled = KernelCase(
        .linearResidualScaled,
        [[rows, 1, inDim], [outDim, inDim], [outDim], tokens, [rows, 1, 1]], out: tokens,
        rng: &rng)
      scaled.data = linear.data + [other, scale]
      XCTAssertEqual(
        bits(try runKernel(scaled, threads: threads).out),
        bits(try runKernel(add, threads: threads).out), "\(label): linear_residual_scaled")
      for flags: [Int64] in [[0, 0], [0, 1], [1, 0]] {
        let a = flags[0] == 1 ? [inDim, rows] : [rows, inDim]
        let b = flags[1] == 1 ? [outDim, inDim] : [inDim, outDim]
        let matmul = KernelCase(.matmul, [a, b], out: y, iattr: flags, rng: &rng)
        var geluBwd = KernelCase(.geluBwd, [y, y], out: y, rng: &rng)
        geluBwd.data = [try runKernel(matmul, threads: threads).out, other]
        var bwd = KernelCase(.matmulGeluBwd, [a, b, y], out: y, iattr: flags, rng: &rng)
        bwd.data = matmul.data + [other]
        XCTAssertEqual(
          bits(try runKernel(bwd, threads: threads).out),
          bits(try runKernel(geluBwd, threads: threads).out), "\(label): \(flags)")
      }
    }
  }

  /// The default choice goes by shape alone: forcing OpenBLAS or AUTO never changes which
  /// kernel a shape takes in AUTO, and a tiny GEMM stays on OpenBLAS.
  func testTheAutomaticChoiceIsByShape() {
    dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
    XCTAssertEqual(dino_gemm_kernel_is_tiled(3, 5, 7, 0, 1), 0, "a tiny GEMM")
    let first = dino_gemm_kernel_is_tiled(6400, 576, 192, 0, 1)
    dino_set_num_threads(1)
    XCTAssertEqual(dino_gemm_kernel_is_tiled(6400, 576, 192, 0, 1), first, "thread count")
    dino_set_num_threads(2)
    XCTAssertEqual(dino_gemm_kernel_is_tiled(6400, 576, 192, 0, 1), first, "thread count")
    dino_set_gemm_kernel(Int32(DINO_GEMM_BLAS.rawValue))
    XCTAssertEqual(dino_gemm_kernel_is_tiled(6400, 576, 192, 0, 1), 0, "forced OpenBLAS")
  }

  /// The input gradients over K = 576 and 768 into 192 columns and fc2's forward (all of B
  /// packed at once, each row panel's K blocks back to back) take the tiled GEMM by shape,
  /// at AUTO the forced tiled GEMM's bits at 1 and 2 threads; so do fc2's weight gradient
  /// and tiny224's patch embedding's (192 × 768 over 2304–6400 rows), but not below 2048
  /// rows nor into more than 768 columns.
  func testTheLongKGemmsTakeTheTiledGemm() throws {
    dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
    for (m, k, transB) in [(6400, 768, 0), (6400, 576, 0), (3152, 768, 0), (2368, 576, 0),
                           (6400, 768, 1), (3152, 768, 1)] {
      XCTAssertEqual(
        dino_gemm_kernel_is_tiled(Int32(m), 192, Int32(k), 0, Int32(transB)), 1,
        "\(m)x192x\(k) trans_b \(transB)")
    }
    for k: Int32 in [6400, 3840, 3152, 3136, 2368, 2304] {
      XCTAssertEqual(dino_gemm_kernel_is_tiled(192, 768, k, 1, 0), 1, "fc2 dW over \(k)")
    }
    XCTAssertEqual(dino_gemm_kernel_is_tiled(192, 768, 2047, 1, 0), 0, "under 2048 rows")
    XCTAssertEqual(dino_gemm_kernel_is_tiled(192, 800, 6400, 1, 0), 0, "past 768 columns")
    var rng = TestRNG(seed: 9_307)
    var cases: [(String, KernelCase)] = []
    for (k, tb) in [(768, Int64(0)), (576, 0), (768, 1)] {
      let b = tb == 1 ? [192, k] : [k, 192]
      cases.append(("512x192x\(k) trans_b \(tb)", KernelCase(
        .matmul, [[512, k], b], out: [512, 192], iattr: [0, tb], rng: &rng)))
    }
    // fc2's weight gradient at the rule's edge: 2048 rows, split along N at 2 threads.
    cases.append(("fc2 dW 192x768x2048", KernelCase(
      .matmul, [[2048, 192], [2048, 768]], out: [192, 768], iattr: [1, 0], rng: &rng)))
    for (label, c) in cases {
      var runs: [[Float]] = []
      for threads in [1, 2] {
        dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
        let auto = try runKernel(c, threads: threads).out
        dino_set_gemm_kernel(Int32(DINO_GEMM_TILED.rawValue))
        let tiled = try runKernel(c, threads: threads).out
        XCTAssertEqual(bits(auto), bits(tiled), "\(label) \(threads) threads")
        runs.append(auto)
      }
      XCTAssertEqual(bits(runs[0]), bits(runs[1]), "\(label): 1 vs 2 threads")
    }
  }

  /// fc1's forward and fc2's input gradient (K = 192 into 768 columns: the GELU epilogues)
  /// take the tiled GEMM by shape, and every epilogue op there gives the forced tiled GEMM's
  /// bits at 1 and 2 threads; the head's 1024 columns and a K past one block stay on
  /// OpenBLAS.
  func testTheGeluShapesTakeTheTiledGemm() throws {
    dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
    for (m, transB) in [(6400, 1), (6400, 0), (3152, 1), (3152, 0), (2368, 1), (512, 0)] {
      XCTAssertEqual(
        dino_gemm_kernel_is_tiled(Int32(m), 768, 192, 0, Int32(transB)), 1,
        "\(m)x768x192 trans_b \(transB)")
    }
    XCTAssertEqual(dino_gemm_kernel_is_tiled(512, 1024, 192, 0, 1), 0, "the head's 1024")
    XCTAssertEqual(dino_gemm_kernel_is_tiled(6400, 768, 768, 0, 1), 0, "K past one block")
    var rng = TestRNG(seed: 9_306)
    // A·B and A·Bᵀ only: a transposed A at this shape is not the tiled GEMM's by shape.
    let cases = epilogueCases(rows: 512, inDim: 192, outDim: 768, rng: &rng).filter {
      $0.iattr.first != 1
    }
    for c in cases {
      var autoRuns: [KernelRun] = []
      for threads in [1, 2] {
        dino_set_gemm_kernel(Int32(DINO_GEMM_AUTO.rawValue))
        let auto = try runKernel(c, threads: threads)
        dino_set_gemm_kernel(Int32(DINO_GEMM_TILED.rawValue))
        let tiled = try runKernel(c, threads: threads)
        let label = "\(c.op) 512x192x768 \(threads) threads"
        XCTAssertEqual(bits(auto.out), bits(tiled.out), label)
        for (a, t) in zip(auto.extras, tiled.extras) { XCTAssertEqual(bits(a), bits(t), label) }
        autoRuns.append(auto)
      }
      XCTAssertEqual(bits(autoRuns[0].out), bits(autoRuns[1].out), "\(c.op): 1 vs 2 threads")
    }
  }
}
