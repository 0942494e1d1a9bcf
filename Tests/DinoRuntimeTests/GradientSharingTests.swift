import DinoIR
import DinoPasses
import DinoRuntime
import XCTest
import _DinoTestSupport

/// `Runtime.shareGradients` without MPI: an exchange that hides each bucket from the
/// program between `start` and `finish` (NaN in its place, its values kept aside) proves
/// that no instruction reads or writes a bucket once its sum has started, and that every
/// sum is finished before the optimiser reads the region.
final class GradientSharingTests: XCTestCase {
  /// Replaces each started bucket by NaN and puts its values back at `finish`.
  final class HidingExchange: GradientExchange {
    var hidden: [(data: UnsafeMutablePointer<Float>, values: [Float])] = []
    var starts = 0
    var finishes = 0

    func start(_ data: UnsafeMutablePointer<Float>, count: Int) {
      hidden.append((data, Array(UnsafeBufferPointer(start: data, count: count))))
      data.update(repeating: .nan, count: count)
      starts += 1
    }

    func progress() {}

    func finish() {
      for bucket in hidden {
        bucket.values.withUnsafeBufferPointer {
          bucket.data.update(from: $0.baseAddress!, count: $0.count)
        }
      }
      hidden.removeAll()
      finishes += 1
    }
  }

  /// FlatOptimizerTests' model, four steps, with every gradient bucket hidden while its
  /// sum runs: bitwise the plain run; one bucket per segment with 4-byte buckets, whole
  /// segments and the whole region in any case.
  func testBucketsAreUntouchedWhileTheirSumsRun() throws {
    let graph = try Pipeline.run(try FlatOptimizerTests.model(clip: 0.05))
    let gates: [Float] = [0, 1, 1, 1]
    let plain = try FlatOptimizerTests.train(graph, gates: gates, threads: 1)
    for bucketBytes in [4, 1 << 22] {
      let exchange = HidingExchange()
      let shared = try FlatOptimizerTests.train(graph, gates: gates, threads: 1) { runtime in
        try runtime.shareGradients(of: "train_step", with: exchange, bucketBytes: bucketBytes)
      }
      XCTAssertEqual(exchange.finishes, gates.count)
      XCTAssertEqual(Set(shared.keys), Set(plain.keys))
      for (name, values) in plain {
        XCTAssertEqual(
          shared[name]?.map(\.bitPattern), values.map(\.bitPattern), "\(name), \(bucketBytes) B")
      }
      let runtime = try Runtime(graph: graph)
      let plan = try runtime.gradientBuckets(of: "train_step", bucketBytes: bucketBytes)
      XCTAssertEqual(exchange.starts, plan.buckets.count * gates.count)
      XCTAssertEqual(plan.buckets.count, bucketBytes == 4 ? 4 : 1)
      let covered = plan.buckets.sorted { $0.offset < $1.offset }
      XCTAssertEqual(covered.flatMap(\.buffers).count, 4)
      // One bucket per segment holds the gradients alone; one bucket for all also spans
      // the alignment gaps between them, within the region.
      let floats = covered.reduce(0) { $0 + $1.count }
      if bucketBytes == 4 {
        XCTAssertEqual(floats, 7 * 6 + 7 + 7 + 9 * 7)
      } else {
        XCTAssertGreaterThanOrEqual(floats, 7 * 6 + 7 + 7 + 9 * 7)
        XCTAssertLessThanOrEqual(covered[0].offset + floats, try runtime.region("grad").count / 4)
      }
      XCTAssertTrue(plan.buckets.allSatisfy { $0.readyAfter <= plan.finishBefore })
      if bucketBytes == 4 {
        XCTAssertTrue(
          plan.buckets.contains { $0.readyAfter < plan.finishBefore },
          "no bucket can start before the optimiser: nothing overlaps")
      }
    }
  }

  /// A plan without the flat gradient region cannot share its gradients: one line.
  func testPerTensorPlansAreRefused() throws {
    let graph = try FlatOptimizerTests.perTensor(try FlatOptimizerTests.model(clip: 0.05))
    let runtime = try Runtime(graph: graph)
    XCTAssertThrowsError(
      try runtime.shareGradients(of: "train_step", with: HidingExchange())
    ) {
      XCTAssertEqual(
        ($0 as? RuntimeError)?.message,
        "the plan has no flat gradient region 'grad', which data-parallel training all-reduces: "
          + "compile it without --per-tensor-optimizer")
    }
  }
}
