import DinoDSL
import DinoIR
import DinoPlan
import DinoRandom
import DinoRuntime
import Foundation
import XCTest
import _DinoTestSupport

/// `DINOLoss(centering: .sinkhornKnopp(iterations:))` (Samples/fashion_mnist_cpu.swift):
/// the teacher targets of `train_step`, evaluated in Double on the official reference
/// weights and crops, equal DINOv2's `sinkhorn_knopp_teacher` computed directly from the
/// step's teacher logits; a process alone computes bit for bit the local log-domain
/// iterations; the `-D centering` values parse and bad ones are refused.
final class SinkhornKnoppTests: XCTestCase {
  private let sample = DinocRunner.packageRoot.appendingPathComponent(
    "Samples/fashion_mnist_cpu.swift"
  ).path

  /// DINOv2 `sinkhorn_knopp_teacher` on `t [rows, K]`, transcribed in the exp domain:
  /// Q = exp(t/τ)ᵀ / ΣQ; n × (Q /= row sums; Q /= K; Q /= column sums; Q /= B); Q *= B.
  private func dinov2SinkhornKnopp(_ t: [[Double]], tau: Double, iterations: Int) -> [[Double]] {
    let rows = t.count
    let k = t[0].count
    let top = t.flatMap { $0 }.max()! / tau
    var q = t.map { row in row.map { Foundation.exp($0 / tau - top) } }
    let total = q.flatMap { $0 }.reduce(0, +)
    q = q.map { $0.map { $0 / total } }
    for _ in 0..<iterations {
      for j in 0..<k {  // each prototype (a row of DINOv2's K×B matrix) to 1/K
        let s = (0..<rows).reduce(0) { $0 + q[$1][j] }
        for b in 0..<rows { q[b][j] /= s * Double(k) }
      }
      for b in 0..<rows {  // each sample (a column there) to 1/B
        let s = q[b].reduce(0, +)
        q[b] = q[b].map { $0 / (s * Double(rows)) }
      }
    }
    return q.map { $0.map { $0 * Double(rows) } }
  }

  func testTargetsEqualDINOv2SinkhornKnoppOnTheTeacherLogits() throws {
    for iterations in [1, 3] {
      let initial = try ReferenceFiles.open("step_epoch1.init")
      let crops = try ReferenceFiles.open("step_epoch1.crops")
      let flags = try initial.defineFlags() + ["-D", "centering=sinkhorn:\(iterations)"]
      let graph = try Graph(wire: DinocRunner.compileToWire(sample, flags))
      let program = try XCTUnwrap(graph.program("train_step"))
      var feeds = try crops.referenceTensors()
      let tau = 0.07
      feeds["teacher_temp"] = ReferenceTensor(scalar: tau)
      feeds["seed"] = ReferenceTensor(scalar: 0)
      var buffers = try initial.referenceTensors()
      let values = try ReferenceInterpreter.values(program, inputs: feeds, buffers: &buffers)
      // The teacher logits are divided by the teacher_temp input.
      let temp = try XCTUnwrap(
        program.nodes.firstIndex { $0.op == .input && $0.attrs.string("name") == "teacher_temp" })
      let div = try XCTUnwrap(
        program.nodes.firstIndex { $0.op == .div && $0.operands[1].index == temp })
      let logits = values[program.nodes[div].operands[0].index]
      let (rows, k) = (logits.shape[0], logits.shape[1])
      let t = (0..<rows).map { r in Array(logits.data[(r * k)..<((r + 1) * k)]) }
      let expected = dinov2SinkhornKnopp(t, tau: tau, iterations: iterations)
      // The targets: the first [rows, K] softmax after that division.
      let softmax = try XCTUnwrap(
        program.nodes.indices.first {
          $0 > div && program.nodes[$0].op == .softmax
            && program.nodes[$0].type.shape == [rows, k]
        })
      let targets = values[softmax]
      var worst = 0.0
      for r in 0..<rows {
        for j in 0..<k { worst = max(worst, abs(targets.data[r * k + j] - expected[r][j])) }
      }
      XCTAssertLessThan(worst, 1e-12, "iterations \(iterations)")
      // The teacher statistics read these targets.
      let entropy =
        expected.map { row in -row.reduce(0) { $0 + ($1 > 0 ? $1 * Foundation.log($1) : 0) } }
        .reduce(0, +) / Double(rows)
      let id = try XCTUnwrap(program.outputs.first { $0.name == "teacher_entropy" }?.value)
      XCTAssertEqual(try XCTUnwrap(values[id.index].scalar), entropy, accuracy: 1e-9)
      // The prototypes share the batch: every column's mass is close to rows / K.
      for j in 0..<k {
        let mass = (0..<rows).reduce(0) { $0 + expected[$1][j] }
        XCTAssertEqual(mass, Double(rows) / Double(k), accuracy: 0.5 * Double(rows) / Double(k))
      }
    }
  }

  /// A process alone: `sinkhornKnoppLogits`, whose column step adds the process's share of
  /// the global batch (`all_reduce_sum`, a copy here), equals bit for bit the purely local
  /// log-domain iterations (what it computed before data parallelism), on the f32 kernels.
  func testAloneTheTargetsAreBitwiseTheLocalLogDomainOnes() throws {
    let model = try DinocRunner.writeModel(
      """
      // dino-dsl-version: 1
      import DinoDSL

      Model("sk") { model in
        model.program("sk") {
          let t = Input("t", [6, 5])
          let temp = Input("temp", [])
          Output("global", sinkhornKnoppLogits(t, temperature: temp, iterations: 3))
          var z = t / temp
          for _ in 0..<3 {
            z = logSoftmax(logSoftmax(z.transposed()).transposed())
          }
          Output("local", z)
        }
      }
      """, for: self)
    let plan = NSTemporaryDirectory() + "/sk-alone-\(UUID().uuidString).plan.bin"
    defer { try? FileManager.default.removeItem(atPath: plan) }
    let compile = try DinocRunner.run(["compile", model, "-o", plan])
    XCTAssertEqual(compile.status, 0, compile.stderr)
    let runtime = try Runtime(graph: try PlanReader.read(contentsOf: plan))
    var rng = SplitMix64(seed: 3)
    try runtime.setInput("t", (0..<30).map { _ in Float(rng.nextNormal()) })
    try runtime.setScalar("temp", 0.07)
    try runtime.run("sk")
    let global = try runtime.output("global"), local = try runtime.output("local")
    XCTAssertEqual(global.map(\.bitPattern), local.map(\.bitPattern))
  }

  func testCenteringOptionValues() throws {
    XCTAssertEqual(TeacherCentering(optionText: "center"), .center)
    XCTAssertEqual(TeacherCentering(optionText: "sinkhorn"), .sinkhornKnopp(iterations: 3))
    XCTAssertEqual(TeacherCentering(optionText: "Sinkhorn:5"), .sinkhornKnopp(iterations: 5))
    for bad in ["", "sinkhorn:0", "sinkhorn:x", "sinkhorn:3:1", "centre", "center:2"] {
      XCTAssertNil(TeacherCentering(optionText: bad), bad)
    }
    XCTAssertEqual(TeacherCentering.sinkhornKnopp(iterations: 4).description, "sinkhorn:4")
    let result = try DinocRunner.run(
      ["compile", sample, "-o", NSTemporaryDirectory() + "/sk.plan.bin", "-D", "centering=foo"])
    XCTAssertNotEqual(result.status, 0)
    XCTAssertTrue(
      result.stderr.contains("option -D centering=foo: expected center, sinkhorn or sinkhorn:N"),
      result.stderr)
  }
}
