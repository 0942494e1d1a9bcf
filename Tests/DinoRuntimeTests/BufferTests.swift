import CDinoKernels
import DinoIR
import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// Persistent buffers: layout, initialisation from init specs, checkpoint load/save.
final class BufferTests: XCTestCase {
  /// A graph with student weights, a teacher declared in another order, Adam moments named
  /// as the optimiser pass names them, and a center.
  func mirroredGraph() throws -> Graph {
    var p = ProgramBuilder(name: "ema")
    let m = p.input("momentum", [])
    let sa = p.parameter("student.a", [3], init: "trunc_normal(0.02,-2,2)")
    let sb = p.parameter("student.b.weight", [5, 5], init: "uniform(-0.5,0.5)")
    let tb = p.parameter(
      "teacher.b.weight", [5, 5], init: "copy(student.b.weight)", trainable: false)
    let ta = p.parameter("teacher.a", [3], init: "copy(student.a)", trainable: false)
    _ = try p.op(.emaUpdate, tb, sb, m)
    _ = try p.op(.emaUpdate, ta, sa, m)
    _ = p.parameter("adam_m.student.b.weight", [5, 5], init: "zeros", trainable: false)
    _ = p.parameter("adam_m.student.a", [3], init: "zeros", trainable: false)
    _ = p.parameter("center", [7], init: "const(0.25)", trainable: false)
    return planEachValueApart(Graph(programs: [p.program]))
  }

  func testLayoutMirrorsStudentOrder() throws {
    let runtime = try Runtime(graph: try mirroredGraph())
    XCTAssertEqual(runtime.layout.regions, ["student", "teacher", "adam_m", "center"])
    func offset(_ name: String) throws -> Int {
      let region = String(name.prefix { $0 != "." })
      return try runtime.buffer(name).baseAddress!
        - runtime.region(region).baseAddress!.assumingMemoryBound(to: Float.self)
    }
    XCTAssertEqual(try offset("student.a"), 0)
    XCTAssertEqual(try offset("student.b.weight"), 16)  // floats: 64 bytes
    for name in ["teacher.a", "adam_m.student.a"] { XCTAssertEqual(try offset(name), 0, name) }
    for name in ["teacher.b.weight", "adam_m.student.b.weight"] {
      XCTAssertEqual(try offset(name), 16, name)
    }
    for region in ["student", "teacher", "adam_m"] {
      XCTAssertEqual(try runtime.region(region).count, 192, region)
    }
    XCTAssertEqual(try runtime.region("center").count, 64)
    for region in runtime.layout.regions {
      XCTAssertEqual(Int(bitPattern: try runtime.region(region).baseAddress!) % 64, 0)
    }
  }

  func testInitSpecsAndCopies() throws {
    let runtime = try Runtime(graph: try mirroredGraph())
    try runtime.initializeParameters(seed: 7)
    let sa = Array(try runtime.buffer("student.a"))
    let sb = Array(try runtime.buffer("student.b.weight"))
    XCTAssertEqual(Array(try runtime.buffer("teacher.a")), sa)
    XCTAssertEqual(Array(try runtime.buffer("teacher.b.weight")), sb)
    XCTAssertEqual(Array(try runtime.buffer("adam_m.student.a")), [0, 0, 0])
    XCTAssertEqual(Array(try runtime.buffer("center")), Array(repeating: 0.25, count: 7))
    XCTAssertTrue(sb.allSatisfy { $0 >= -0.5 && $0 <= 0.5 })
    XCTAssertGreaterThan(Set(sb).count, 20)

    // Deterministic per seed, different across seeds.
    try runtime.initializeParameters(seed: 7)
    XCTAssertEqual(Array(try runtime.buffer("student.b.weight")), sb)
    try runtime.initializeParameters(seed: 8)
    XCTAssertNotEqual(Array(try runtime.buffer("student.b.weight")), sb)
  }

  /// Mean and standard deviation of `values`.
  func moments(_ values: UnsafeMutableBufferPointer<Float>) -> (mean: Double, std: Double) {
    let n = Double(values.count)
    let mean = values.reduce(0) { $0 + Double($1) } / n
    let variance = values.reduce(0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / n
    return (mean, variance.squareRoot())
  }

  func testInitStatistics() throws {
    let n = 100_000
    var p = ProgramBuilder(name: "stats")
    for (name, spec) in [
      ("student.tn", "trunc_normal(0.02,-2,2)"), ("student.narrow", "trunc_normal(1,-0.5,1.5)"),
      ("student.tail", "trunc_normal(1,2,3)"), ("student.normal", "normal(0.5)"),
      ("student.uniform", "uniform(-0.25,0.75)"), ("student.zeros", "zeros"),
      ("student.ones", "ones"),
    ] {
      _ = p.parameter(name, [n], init: spec)
    }
    let runtime = try Runtime(graph: planEachValueApart(Graph(programs: [p.program])))
    try runtime.initializeParameters(seed: 1)
    let se = 4 / Double(n).squareRoot()  // four standard errors, in units of σ

    let tn = moments(try runtime.buffer("student.tn"))
    XCTAssertEqual(tn.mean, 0, accuracy: 0.02 * se)
    XCTAssertEqual(tn.std, 0.02, accuracy: 0.02 * 0.015)

    // N(0,1) truncated to [-0.5, 1.5]: mean (φ(α)−φ(β))/Z, variance 1 + (αφ(α)−βφ(β))/Z − mean².
    func phi(_ x: Double) -> Double { exp(-x * x / 2) / (2 * Double.pi).squareRoot() }
    func cdf(_ x: Double) -> Double { 0.5 * erfc(-x / 2.0.squareRoot()) }
    func truncated(_ a: Double, _ b: Double) -> (Double, Double) {
      let z = cdf(b) - cdf(a)
      let mean = (phi(a) - phi(b)) / z
      return (mean, (1 + (a * phi(a) - b * phi(b)) / z - mean * mean).squareRoot())
    }
    for (name, a, b) in [("student.narrow", -0.5, 1.5), ("student.tail", 2.0, 3.0)] {
      let values = try runtime.buffer(name)
      XCTAssertTrue(values.allSatisfy { Double($0) >= a && Double($0) <= b }, name)
      let (mean, std) = truncated(a, b)
      let got = moments(values)
      XCTAssertEqual(got.mean, mean, accuracy: std * se, name)
      XCTAssertEqual(got.std, std, accuracy: std * 0.02, name)
    }

    let normal = moments(try runtime.buffer("student.normal"))
    XCTAssertEqual(normal.mean, 0, accuracy: 0.5 * se)
    XCTAssertEqual(normal.std, 0.5, accuracy: 0.5 * 0.015)

    let uniform = try runtime.buffer("student.uniform")
    XCTAssertTrue(uniform.allSatisfy { $0 >= -0.25 && $0 <= 0.75 })
    XCTAssertLessThan(uniform.min()!, -0.249)
    XCTAssertGreaterThan(uniform.max()!, 0.749)
    let u = moments(uniform)
    XCTAssertEqual(u.mean, 0.25, accuracy: (1 / 12.0).squareRoot() * se)
    XCTAssertEqual(u.std, (1 / 12.0).squareRoot(), accuracy: 0.003)

    XCTAssertTrue(try runtime.buffer("student.zeros").allSatisfy { $0 == 0 })
    XCTAssertTrue(try runtime.buffer("student.ones").allSatisfy { $0 == 1 })
  }

  func testCopyChainsAndCycles() throws {
    var p = ProgramBuilder(name: "p")
    _ = p.parameter("teacher.x", [4], init: "copy(ema.x)")
    _ = p.parameter("ema.x", [4], init: "copy(student.x)")
    _ = p.parameter("student.x", [4], init: "uniform(1,2)")
    let runtime = try Runtime(graph: planEachValueApart(Graph(programs: [p.program])))
    try runtime.initializeParameters(seed: 3)
    let source = Array(try runtime.buffer("student.x"))
    XCTAssertTrue(source.allSatisfy { $0 >= 1 })
    XCTAssertEqual(Array(try runtime.buffer("ema.x")), source)
    XCTAssertEqual(Array(try runtime.buffer("teacher.x")), source)

    var q = ProgramBuilder(name: "q")
    _ = q.parameter("a.x", [2], init: "copy(b.x)")
    _ = q.parameter("b.x", [2], init: "copy(a.x)")
    let cyclic = try Runtime(graph: planEachValueApart(Graph(programs: [q.program])))
    assertError(try cyclic.initializeParameters(seed: 0), contains: "copy each other in a cycle")
  }

  func testSaveAndLoadBuffers() throws {
    let dir = try temporaryDirectory()
    let runtime = try Runtime(graph: try mirroredGraph())
    try runtime.initializeParameters(seed: 11)
    let before = try runtime.bufferNames.map { Array(try runtime.buffer($0)) }
    try runtime.saveBuffers(to: dir + "/all.safetensors", metadata: ["step": "3"])
    let file = try SafeTensors.read(contentsOf: dir + "/all.safetensors")
    XCTAssertEqual(file.metadata, ["step": "3"])
    XCTAssertEqual(file.tensors["student.b.weight"]?.shape, [5, 5])

    try runtime.initializeParameters(seed: 12)
    let loaded = try runtime.loadBuffers(
      contentsOf: dir + "/all.safetensors", required: ["student.a"])
    XCTAssertEqual(loaded, runtime.bufferNames.sorted())
    XCTAssertEqual(try runtime.bufferNames.map { Array(try runtime.buffer($0)) }, before)

    var extra = file
    extra.tensors["student.c"] = HostTensor(shape: [1], floats: [1])
    assertError(
      try runtime.loadBuffers(extra, source: "w.safetensors"),
      contains: "w.safetensors: tensor 'student.c' is not a buffer of the plan")
    var wrong = file
    wrong.tensors["student.a"] = HostTensor(shape: [1, 3], floats: [1, 2, 3])
    assertError(
      try runtime.loadBuffers(wrong, source: "w.safetensors"),
      contains: "w.safetensors: tensor 'student.a' is f32[1,3] but the plan's buffer is f32[3]")
    var ints = file
    ints.tensors["student.a"] = HostTensor(shape: [3], ints: [1, 2, 3])
    assertError(
      try runtime.loadBuffers(ints, source: "w.safetensors"),
      contains: "tensor 'student.a' is i32[3]")
    var missing = file
    missing.tensors["center"] = nil
    assertError(
      try runtime.loadBuffers(missing, required: ["center"], source: "w.safetensors"),
      contains: "w.safetensors has no tensor 'center'")
    // Refused loads change nothing.
    XCTAssertEqual(try runtime.bufferNames.map { Array(try runtime.buffer($0)) }, before)
    assertError(try runtime.buffer("student.zzz"), contains: "the plan has no buffer 'student.zzz'")
    assertError(
      try runtime.saveBuffers(to: dir + "/x.safetensors", names: ["nope.x"]),
      contains: "no buffer 'nope.x'")
    XCTAssertEqual(try runtime.region("teacher").count, 192)
    assertError(try runtime.region("student.a"), contains: "no region 'student.a'")
  }
}

/// Parameter initialisation follows its documented recipe: element `i` of buffer `name`
/// draws u = (top 53 bits of dino_hash(seed, fnv1a(name), i, 0) + ½)·2⁻⁵³ (the kernels'
/// hash), then maps it (uniform: lo + (hi−lo)·u; normal: σ·Φ⁻¹(u)).
final class InitRecipeTests: XCTestCase {
  func fnv1a(_ text: String) -> UInt64 {
    var h: UInt64 = 0xCBF2_9CE4_8422_2325
    for byte in text.utf8 { h = (h ^ UInt64(byte)) &* 0x0000_0100_0000_01B3 }
    return h
  }

  func u(_ seed: UInt64, _ name: String, _ i: Int) -> Double {
    (Double(dino_hash(seed, fnv1a(name), UInt64(i), 0) >> 11) + 0.5) * 0x1p-53
  }

  func testUniformAndNormalFollowTheRecipe() throws {
    var p = ProgramBuilder(name: "p")
    _ = p.parameter("student.u", [3000], init: "uniform(-1,3)")
    _ = p.parameter("student.n", [3000], init: "normal(1)")
    let runtime = try Runtime(graph: planEachValueApart(Graph(programs: [p.program])))
    try runtime.initializeParameters(seed: 99)
    let uniform = try runtime.buffer("student.u")
    let normal = try runtime.buffer("student.n")
    for i in 0..<3000 {
      XCTAssertEqual(uniform[i], Float(-1 + 4 * u(99, "student.u", i)), "uniform[\(i)]")
      let cdf = 0.5 * erfc(-Double(normal[i]) / 2.0.squareRoot())
      XCTAssertEqual(cdf, u(99, "student.n", i), accuracy: 1e-6, "normal[\(i)]")
    }
  }
}
