import DinoIR
import DinoPasses
import XCTest

/// Finite-difference checks of every VJP rule of `differentiate`, in Double.
///
/// Each case is a tiny program `op → Σ(y ⊙ R)` with R a fixed random constant; its student
/// parameters (every differentiable operand) get random values from a fixed seed. The
/// differentiated program runs in the shared `ReferenceInterpreter`, and each `grad.*` output
/// is compared with `GradientCheck.numericGradient` (4-point stencil) of the forward program:
/// relative norm error and cosine. Every differentiable op also gets the check derived from
/// its oracle row (`OracleGradientTests`, which holds the coverage test); these cases add
/// shared operands, broadcasting variants and transposes.
final class AutodiffGradientTests: XCTestCase {
  /// One gradient check: a name, the op it covers, and its program.
  struct Case {
    let name: String
    let op: OpKind
    let build: (inout GradientCheckBuilder) throws -> ValueID
  }

  // MARK: - Per-op cases

  func testEveryOpAgreesWithFiniteDifferences() throws {
    var worst = (relativeError: 0.0, cosine: 1.0, name: "")
    for (index, testCase) in Self.cases.enumerated() {
      var builder = GradientCheckBuilder(seed: 1000 + UInt64(index))
      let y = try testCase.build(&builder)
      let loss = try builder.weightedSum(y)
      let figures = try check(testCase.name, builder, loss: loss)
      if figures.relativeError >= worst.relativeError {
        worst = (figures.relativeError, min(worst.cosine, figures.cosine), testCase.name)
      } else {
        worst.cosine = min(worst.cosine, figures.cosine)
      }
    }
    print(
      "autodiff gradient check, \(Self.cases.count) op cases: worst relative error",
      worst.relativeError, "(\(worst.name)), worst cosine", worst.cosine)
  }

  static var cases: [Case] {
    var cases: [Case] = []
    func add(
      _ name: String, _ op: OpKind,
      _ build: @escaping (inout GradientCheckBuilder) throws -> ValueID
    ) {
      cases.append(Case(name: name, op: op, build: build))
    }
    for (ta, tb) in [(false, false), (false, true), (true, false), (true, true)] {
      let flags = "ta\(ta ? 1 : 0)tb\(tb ? 1 : 0)"
      add("matmul 2-D \(flags)", .matmul) { b in
        try b.matmul(
          b.parameter(ta ? [4, 3] : [3, 4]), b.parameter(tb ? [5, 4] : [4, 5]), ta, tb)
      }
      add("matmul batched \(flags)", .matmul) { b in
        try b.matmul(
          b.parameter(ta ? [2, 4, 3] : [2, 3, 4]), b.parameter(tb ? [2, 5, 4] : [2, 4, 5]), ta, tb)
      }
      add("matmul shared 2-D b \(flags)", .matmul) { b in
        try b.matmul(
          b.parameter(ta ? [2, 2, 4, 3] : [2, 2, 3, 4]), b.parameter(tb ? [5, 4] : [4, 5]), ta, tb)
      }
    }
    add("matmul a·aᵀ (one operand twice)", .matmul) { b in
      let a = try b.parameter([3, 4])
      return try b.matmul(a, a, false, true)
    }
    add("matmul constant a", .matmul) { b in try b.matmul(b.input([2, 3, 4]), b.parameter([4, 2])) }
    for shape in [[4], [3, 4], [2, 3, 4]] {
      add("linear x\(shapeText(shape))", .linear) { b in
        try b.node(.linear, [b.parameter(shape), b.parameter([5, 4]), b.parameter([5])])
      }
    }
    add("patch_embed", .patchEmbed) { b in
      try b.node(
        .patchEmbed, [b.input([2, 2, 4, 6]), b.parameter([3, 2, 2, 2]), b.parameter([3])],
        ["patch": .int(2)])
    }
    let pairs: [([Int], [Int])] = [
      ([2, 3], [2, 3]), ([2, 3], [3]), ([2, 3], [1, 3]), ([2, 3], [2, 1]), ([2, 3], []),
      ([2, 3, 4], [3, 1]),
    ]
    for op in [OpKind.add, .sub, .mul, .div] {
      for (big, small) in pairs {
        add("\(op) \(shapeText(big)) ∘ \(shapeText(small))", op) { b in
          let lhs = try b.parameter(big)
          let rhs = op == .div ? try b.parameter(small, 0.5, 1.5) : try b.parameter(small)
          return try b.node(op, [lhs, rhs])
        }
      }
      add("\(op) x ∘ x", op) { b in
        let x = try b.parameter([2, 3], 0.5, 1.5)
        return try b.node(op, [x, x])
      }
    }
    add("scale", .scale) { b in try b.node(.scale, [b.parameter([2, 3])], ["factor": .float(-2.5)])
    }
    add("gelu", .gelu) { b in try b.node(.gelu, [b.parameter([3, 5], -3, 3)]) }
    add("layer_norm", .layerNorm) { b in
      try b.node(
        .layerNorm, [b.parameter([2, 3, 5], -2, 2), b.parameter([5]), b.parameter([5])],
        ["eps": .float(1e-5)])
    }
    add("l2_normalize", .l2Normalize) { b in
      try b.node(.l2Normalize, [b.parameter([3, 4])], ["eps": .float(1e-12)])
    }
    add("weight_norm", .weightNorm) { b in
      try b.node(.weightNorm, [b.parameter([4, 3]), b.parameter([4, 1], 0.5, 2)])
    }
    add("softmax", .softmax) { b in try b.node(.softmax, [b.parameter([2, 3, 5], -3, 3)]) }
    add("log_softmax", .logSoftmax) { b in try b.node(.logSoftmax, [b.parameter([3, 5], -3, 3)]) }
    add("reshape", .reshape) { b in try b.reshape(b.parameter([2, 3, 4]), [4, 6]) }
    add("permute", .permute) { b in try b.permute(b.parameter([2, 3, 4]), [2, 0, 1]) }
    add("concat axis 1", .concat) { b in
      try b.node(
        .concat, [b.parameter([2, 1, 3]), b.input([2, 2, 3]), b.parameter([2, 3, 3])],
        ["axis": .int(1)])
    }
    add("concat of 12 operands", .concat) { b in
      var parts: [ValueID] = []
      for _ in 0..<12 { parts.append(try b.parameter([1, 2])) }
      return try b.node(.concat, parts, ["axis": .int(0)])
    }
    add("slice", .slice) { b in
      try b.node(
        .slice, [b.parameter([3, 5])], ["axis": .int(1), "start": .int(1), "end": .int(4)])
    }
    add("pad", .pad) { b in
      try b.node(
        .pad, [b.parameter([3, 2])], ["axis": .int(0), "before": .int(1), "after": .int(2)])
    }
    add("broadcast_to [3] → [2,3]", .broadcastTo) { b in
      try b.node(.broadcastTo, [b.parameter([3])], ["shape": .ints([2, 3])])
    }
    add("broadcast_to [2,1,4] → [2,3,4]", .broadcastTo) { b in
      try b.node(.broadcastTo, [b.parameter([2, 1, 4])], ["shape": .ints([2, 3, 4])])
    }
    for (op, axis) in [(OpKind.reduceSum, 1), (.reduceMean, 0), (.reduceMean, 2)] {
      for keepdims in [false, true] {
        add("\(op) axis \(axis) keepdims \(keepdims)", op) { b in
          try b.reduce(op, b.parameter([2, 3, 4]), axis: axis, keepdims: keepdims)
        }
      }
    }
    add("sum_to [2,3,4] → [3,1]", .sumTo) { b in
      try b.node(.sumTo, [b.parameter([2, 3, 4])], ["shape": .ints([3, 1])])
    }
    add("sum_to [2,3,4] → [4]", .sumTo) { b in
      try b.node(.sumTo, [b.parameter([2, 3, 4])], ["shape": .ints([4])])
    }
    return cases
  }
}
