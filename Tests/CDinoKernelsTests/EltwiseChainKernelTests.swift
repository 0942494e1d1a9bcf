import CDinoKernels
import DinoIR
import XCTest
import _DinoTestSupport

/// `eltwise_chain` against the unfused element-wise kernels it replaces, bit for bit: random
/// programs over odd shapes with broadcast operands (suffixes, per-row values, scalars,
/// strided patterns), serial and past the parallel threshold, at 1 and 2 threads and in place.
final class EltwiseChainKernelTests: XCTestCase {
  private func bits(_ x: [Float]) -> [UInt32] { x.map(\.bitPattern) }

  /// Operand `data` of `shape` repeated to `out` (right-aligned broadcast), exactly.
  private func expand(_ data: [Float], _ shape: [Int], to out: [Int]) -> [Float] {
    (0..<out.reduce(1, *)).map {
      data[ReferenceInterpreter.broadcastSource($0, out, shape)]
    }
  }

  /// What the unfused kernels compute for `c`'s program: each step one instruction on the
  /// values so far (a broadcast operand as the kernel's operand 1, or expanded when a step
  /// reads it as operand 0).
  private func unfused(_ c: KernelCase, threads: Int) throws -> [Float] {
    let program = try EltwiseProgram(
      encoded: c.iattr.map { Int($0) }, operandCount: c.shapes.count)
    var values: [[Float]] = []
    var rng = TestRNG(seed: 1)
    func operand(_ r: EltwiseProgram.Ref, first: Bool) -> ([Float], [Int]) {
      switch r {
      case .step(let k): return (values[k], c.out)
      case .operand(let i):
        return first ? (expand(c.data[i], c.shapes[i], to: c.out), c.out) : (c.data[i], c.shapes[i])
      }
    }
    for step in program.steps {
      let a = operand(step.a, first: true)
      var shapes = [a.1], data = [a.0]
      if let b = step.b.map({ operand($0, first: step.op == .geluBwd) }) {
        shapes.append(b.1)
        data.append(b.0)
      }
      let factor = step.op == .scale ? [c.fattr[step.factor]] : []
      var one = KernelCase(step.op, shapes, out: c.out, fattr: factor, rng: &rng)
      one.data = data
      values.append(try runKernel(one, threads: threads).out)
    }
    return values.last!
  }

  func testRandomProgramsAreTheUnfusedKernelsBitwise() throws {
    var rng = TestRNG(seed: 7_301)
    let row = try XCTUnwrap(OpKind.eltwiseChain.oracleRow)
    for size in SizeClass.allCases {
      for _ in 0..<(size == .large ? 6 : 25) {
        let c = row.make(&rng, size)
        let label = "\(c.shapes) \(c.iattr)"
        for threads in [1, 2] {
          let want = bits(try unfused(c, threads: threads))
          XCTAssertEqual(bits(try runKernel(c, threads: threads).out), want, "\(label) \(threads)")
          XCTAssertEqual(
            bits(try runKernel(c, threads: threads, inPlace: true).operands[0]), want,
            "\(label) \(threads) threads, in place")
        }
      }
    }
  }

  func testTheDINOCenterUpdateChainIsBitwise() throws {
    // center·0.9 + (Σ teacher rows / 128)·0.1, as the fused DINO loss runs it.
    var rng = TestRNG(seed: 7_303)
    let k = 4_099
    let program = EltwiseProgram(steps: [
      .init(.scale, .operand(0), factor: 0), .init(.div, .operand(1), .operand(2)),
      .init(.scale, .step(1), factor: 1), .init(.add, .step(0), .step(2)),
    ])
    var chain = KernelCase(
      .eltwiseChain, [[1, k], [1, k], []], out: [1, k], iattr: program.encoded.map(Int64.init),
      fattr: [0.9, Float(0.09999999999999998), 0, 0], rng: &rng)
    chain.data[2] = [128]
    for threads in [1, 2] {
      XCTAssertEqual(
        bits(try runKernel(chain, threads: threads).out), bits(try unfused(chain, threads: threads))
      )
    }
  }
}
