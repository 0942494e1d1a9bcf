import CDinoKernels
import XCTest
import _DinoTestSupport

/// Table-driven checks of every op's kernel against the Swift Double reference: random
/// shapes of three size classes (tiny with extents of 1, odd medium, large enough for the
/// threaded paths), 1 and 2 threads, in place where ops.def allows it.
final class KernelTableTests: XCTestCase {
  /// The drawn cases of every row: `draws` per size class, from a fixed seed.
  private func cases(draws: Int = 2) -> [(OracleRow, KernelCase, String)] {
    var rng = TestRNG(seed: 20_240_601)
    var all: [(OracleRow, KernelCase, String)] = []
    for row in oracleTable {
      for size in SizeClass.allCases {
        for d in 0..<draws {
          let c = row.make(&rng, size)
          all.append((row, c, "\(opName(row.op)) \(size) #\(d) \(c.shapes) -> \(c.out) \(c.iattr)"))
        }
      }
    }
    return all
  }

  private func opName(_ op: dino_op) -> String {
    String(cString: dino_op_traits_of(Int32(op.rawValue)).pointee.name)
  }

  private func assertClose(
    _ x: KernelRun, _ y: KernelRun, _ row: OracleRow, _ label: String,
    file: StaticString = #filePath, line: UInt = #line
  ) {
    let bad = mismatches(x.out, y.out, atol: row.atol, rtol: row.rtol)
    XCTAssert(
      bad.isEmpty, "\(label): result \(bad.joined(separator: "; "))", file: file, line: line)
    XCTAssertEqual(x.extras.count, y.extras.count, "\(label): result count", file: file, line: line)
    for (k, (a, b)) in zip(x.extras, y.extras).enumerated() {
      let bad = mismatches(a, b, atol: row.atol, rtol: row.rtol)
      XCTAssert(
        bad.isEmpty, "\(label): result \(k + 1) \(bad.joined(separator: "; "))", file: file,
        line: line)
    }
    for i in x.operands.indices {
      let badOp = mismatches(x.operands[i], y.operands[i], atol: row.atol, rtol: row.rtol)
      XCTAssert(
        badOp.isEmpty, "\(label): operand \(i) \(badOp.joined(separator: "; "))", file: file,
        line: line)
    }
  }

  func testEveryOpHasAKernelAndATestRow() {
    let rows = Set(oracleTable.map { $0.op.rawValue })
    for op in 0..<Int32(DINO_OP_COUNT) {
      let traits = dino_op_traits_of(op).pointee
      let name = String(cString: traits.name)
      let leaf = String(cString: traits.family) == "leaf"
      XCTAssertEqual(dino_op_has_kernel(op) != 0, !leaf, "\(name): kernel table")
      // `result` computes nothing: its producer's kernel writes it (KernelSemanticsTests).
      if !leaf && name != "result" {
        XCTAssert(
          rows.contains(UInt32(op)),
          "\(name) has no row in oracleTable (_DinoTestSupport/Oracle+<family>.swift)")
      }
    }
    XCTAssertEqual(dino_op_has_kernel(Int32(DINO_OP_COUNT)), 0)
  }

  func testOptimisedMatchesReferenceWithOneAndTwoThreads() throws {
    for (row, c, label) in cases() {
      let ref = try referenceRun(c)
      XCTAssertFalse(ref.out.contains { $0.isNaN }, "\(label): reference left NaN")
      assertClose(try runKernel(c, threads: 1), ref, row, "\(label) 1 thread")
      assertClose(try runKernel(c, threads: 2), ref, row, "\(label) 2 threads")
    }
  }

  func testOneAndTwoThreadsAgreeAndRepeatRunsAreBitwiseIdentical() throws {
    for (row, c, label) in cases(draws: 1) {
      let one = try runKernel(c, threads: 1), two = try runKernel(c, threads: 2)
      assertClose(one, two, row, "\(label) 1 vs 2 threads")
      // Only split GEMMs may depend on the thread count; every other kernel reduces over
      // fixed partitions.
      let gemm = String(cString: dino_op_traits_of(Int32(c.op.rawValue)).pointee.family) == "gemm"
      if !gemm { XCTAssert(bitwiseEqual(one, two), "\(label): 1 and 2 threads differ bitwise") }
      XCTAssert(bitwiseEqual(two, try runKernel(c, threads: 2)), "\(label): 2-thread runs differ")
      XCTAssert(bitwiseEqual(one, try runKernel(c, threads: 1)), "\(label): 1-thread runs differ")
    }
  }

  func testInPlaceOpsMatchOutOfPlace() throws {
    for (row, c, label) in cases(draws: 1)
    where dino_op_traits_of(Int32(c.op.rawValue)).pointee.inplace != 0 {
      let ref = try referenceRun(c)
      for threads in [1, 2] {
        let run = try runKernel(c, threads: threads, inPlace: true)
        let bad = mismatches(run.operands[0], ref.out, atol: row.atol, rtol: row.rtol)
        XCTAssert(
          bad.isEmpty, "\(label) in place, \(threads) threads: \(bad.joined(separator: "; "))")
      }
    }
  }

  func testBroadcastingVariantsOfEveryBinaryOp() throws {
    let a = [3, 5, 7]
    let variants: [[Int]] = [
      [3, 5, 7], [7], [5, 7], [3, 5, 1], [3, 1, 1], [1, 5, 1], [5, 1], [], [1], [3, 1, 7],
      [1, 1, 7],
    ]
    var rng = TestRNG(seed: 7)
    for op in [dino_op.add, .sub, .mul, .div] {
      for b in variants {
        let c = KernelCase(op, [a, b], out: a, rng: &rng) { i, r in
          i == 1 ? r.float(0.5, 2) : r.float(-1, 1)
        }
        let ref = try referenceRun(c), fast = try runKernel(c, threads: 2)
        XCTAssert(
          mismatches(fast.out, ref.out, atol: 1e-6, rtol: 1e-6).isEmpty, "\(op) [3,5,7] with \(b)")
        // Check one element against the definition directly: c[2,4,6] = a[2,4,6] ∘ b[...].
        let bIndex = zip(b.indices, b).reduce(0) { acc, d in
          let (i, e) = d
          let idx = e == 1 ? 0 : [2, 4, 6][i + 3 - b.count]
          return acc * e + idx
        }
        let x = c.data[0][2 * 35 + 4 * 7 + 6], y = c.data[1][bIndex]
        let want: Float = op == .add ? x + y : op == .sub ? x - y : op == .mul ? x * y : x / y
        XCTAssertEqual(fast.out[104], want, "\(op) with \(b): last element")
      }
    }
  }

  func testPermuteTransposesMatchReference() throws {
    // The tiled path: the last output dimension is strided in x (tiles of 32, ragged edges).
    let cases: [([Int], [Int])] = [
      ([37, 45], [1, 0]), ([3, 40, 33], [0, 2, 1]), ([2, 3, 70, 5], [3, 0, 2, 1]),
      ([65, 1, 97], [2, 1, 0]), ([8, 197, 3, 3, 64], [2, 0, 3, 4, 1]), ([300, 301], [1, 0]),
    ]
    var rng = TestRNG(seed: 11)
    for (x, perm) in cases {
      let c = KernelCase(
        .permute, [x], out: perm.map { x[$0] }, iattr: perm.map(Int64.init), rng: &rng)
      let ref = try referenceRun(c)
      for threads in [1, 2] {
        XCTAssertEqual(
          try runKernel(c, threads: threads).out, ref.out, "\(x) by \(perm), \(threads) threads")
      }
    }
  }
}
