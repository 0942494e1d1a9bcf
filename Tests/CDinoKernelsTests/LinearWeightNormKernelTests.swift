import CDinoKernels
import XCTest
import _DinoTestSupport

/// The weight-normalised linear layer's kernels (linear_weight_norm.c) beyond the oracle
/// rows: bitwise the same at 1 and 2 threads and on repeat runs (their partition into
/// blocks of v's rows and chunks of blocks is fixed by the shape), on DINO-like shapes with
/// many blocks and chunks, and against the unfused kernels within the oracle's tolerance.
final class LinearWeightNormKernelTests: XCTestCase {
  /// (M, N, K): odd shapes; many blocks and all 16 chunks (4099 × 64), few big blocks, one
  /// partial block, a head like DINO's (80 × 4099 × 256) and a teacher's head, whose
  /// forward runs on the skinny kernel (16 × 4099 × 256).
  private let shapes: [(Int, Int, Int)] = [
    (33, 4099, 64), (7, 100, 5), (1, 7, 256), (80, 4099, 256), (19, 1000, 64),
    (16, 4099, 256),
  ]

  /// A case of `op` on shape (m, n, k) (KernelCase.linearWeightNorm).
  private func makeCase(
    _ op: dino_op, _ m: Int, _ n: Int, _ k: Int, gradG: Bool, _ rng: inout TestRNG
  ) -> KernelCase {
    KernelCase.linearWeightNorm(m, n, k, backward: op == .linearWeightNorm ? nil : gradG, &rng)
  }

  func testOneAndTwoThreadsAreBitwiseTheSame() throws {
    var rng = TestRNG(seed: 65_536)
    for (m, n, k) in shapes {
      for (op, gradG) in [
        (dino_op.linearWeightNorm, false), (.linearWeightNormBwd, false),
        (.linearWeightNormBwd, true),
      ] {
        let c = makeCase(op, m, n, k, gradG: gradG, &rng)
        let one = try runKernel(c, threads: 1), two = try runKernel(c, threads: 2)
        let label = "\(op) \(m)×\(n)×\(k) grad_g=\(gradG)"
        XCTAssertEqual(one.resultBits, two.resultBits, "\(label): 1 and 2 threads differ")
        let again = try runKernel(c, threads: 2)
        XCTAssertEqual(two.resultBits, again.resultBits, "\(label): repeat differs")
        XCTAssertEqual(one.extras.count, op == .linearWeightNorm ? 0 : gradG ? 2 : 1, label)
      }
    }
  }

  func testForwardIsWeightNormThenMatmul() throws {
    var rng = TestRNG(seed: 256)
    for (m, n, k) in shapes {
      let c = makeCase(.linearWeightNorm, m, n, k, gradG: false, &rng)
      var norm = KernelCase(.weightNorm, [[n, k], [n, 1]], out: [n, k], rng: &rng)
      norm.data = [c.data[1], c.data[2]]
      let w = try runKernel(norm, threads: 2).out
      var matmul = KernelCase(.matmul, [[m, k], [n, k]], out: [m, n], iattr: [0, 1], rng: &rng)
      matmul.data = [c.data[0], w]
      let want = try runKernel(matmul, threads: 2).out, got = try runKernel(c, threads: 2).out
      let bad = mismatches(got, want, atol: 1e-4, rtol: 1e-4)
      XCTAssert(bad.isEmpty, "\(m)×\(n)×\(k): \(bad.prefix(3))")
    }
  }

  func testBackwardIsTheUnfusedKernels() throws {
    var rng = TestRNG(seed: 4_099)
    for (m, n, k) in shapes {
      let c = makeCase(.linearWeightNormBwd, m, n, k, gradG: true, &rng)
      let (dy, x, v, g) = (c.data[0], c.data[1], c.data[2], c.data[3])
      func run(_ op: dino_op, _ shapes: [[Int]], _ data: [[Float]], out: [Int], iattr: [Int64] = [])
        throws -> [Float]
      {
        var one = KernelCase(op, shapes, out: out, iattr: iattr, rng: &rng)
        one.data = data
        return try runKernel(one, threads: 2).out
      }
      let w = try run(.weightNorm, [[n, k], [n, 1]], [v, g], out: [n, k])
      let dx = try run(.matmul, [[m, n], [n, k]], [dy, w], out: [m, k], iattr: [0, 0])
      let dW = try run(.matmul, [[m, n], [m, k]], [dy, x], out: [n, k], iattr: [1, 0])
      let dv = try run(.weightNormBwdV, [[n, k], [n, k], [n, 1]], [dW, v, g], out: [n, k])
      let dg = try run(.weightNormBwdG, [[n, k], [n, k]], [dW, v], out: [n, 1])
      let fused = try runKernel(c, threads: 2)
      for (name, got, want) in [
        ("dx", fused.out, dx), ("dv", fused.extras[0], dv), ("dg", fused.extras[1], dg),
      ] {
        let bad = mismatches(got, want, atol: 1e-4, rtol: 1e-4)
        XCTAssert(bad.isEmpty, "\(m)×\(n)×\(k) \(name): \(bad.prefix(3))")
      }
    }
  }
}
