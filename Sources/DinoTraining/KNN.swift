import CDinoKernels
import DinoRuntime
import Foundation

/// The weighted k-NN classifier of official DINO's eval_knn.py (docs/DINO.md §6.1):
/// cosine similarity of L2-normalised features, the k most similar training samples vote
/// for their class with weight exp(s/T), classes ranked by total vote.
///
/// Ties are broken deterministically: neighbours of equal similarity by lower training
/// index, classes of equal score by lower class index.
public struct KNNClassifier: Sendable {
  /// The training features, L2-normalised, [count, dim] row-major.
  public let features: [Float]
  /// The training labels (class indices).
  public let labels: [Int32]
  /// The feature dimension.
  public let dim: Int
  /// The number of classes (labels lie in 0..<classCount).
  public let classCount: Int

  /// Accuracy for one k, in percent.
  public struct Result: Hashable, Sendable {
    /// The neighbour count asked for.
    public var k: Int
    /// Top-1 accuracy in percent.
    public var top1: Double
    /// Top-5 accuracy in percent (the first min(5, k) ranked classes).
    public var top5: Double

    /// The official line: `20-NN classifier result: Top1: xx.xx, Top5: yy.yy`.
    public var line: String {
      "\(k)-NN classifier result: Top1: \(String(format: "%.2f", top1)), "
        + "Top5: \(String(format: "%.2f", top5))"
    }
  }

  /// Creates a classifier over `features` ([labels.count, dim]), which it L2-normalises.
  /// - Throws: one line when the sizes disagree, there are no samples, or a label is
  ///   outside 0..<classCount.
  public init(features: [Float], labels: [Int32], dim: Int, classCount: Int) throws(RuntimeError) {
    try Self.check(features, labels, dim: dim, classCount: classCount, what: "training")
    var normalized = features
    Self.l2Normalize(&normalized, dim: dim)
    self.features = normalized
    self.labels = labels
    self.dim = dim
    self.classCount = classCount
  }

  /// The number of training samples.
  public var count: Int { labels.count }

  /// Top-1 and top-5 accuracy of `testFeatures` ([testLabels.count, dim], normalised here)
  /// for each k (clamped to the training count), temperature `temperature`.
  /// - Parameter chunk: test rows per similarity block (any positive size gives the same
  ///   result; default: as many as keep the block near 64 MiB).
  public func evaluate(
    testFeatures: [Float], testLabels: [Int32], ks: [Int], temperature: Double = 0.07,
    chunk: Int? = nil
  ) throws(RuntimeError) -> [Result] {
    try Self.check(testFeatures, testLabels, dim: dim, classCount: classCount, what: "test")
    guard !ks.isEmpty, ks.allSatisfy({ $0 >= 1 }) else {
      throw RuntimeError("k must be at least 1 (got \(ks.map(String.init).joined(separator: ",")))")
    }
    guard temperature > 0, temperature.isFinite else {
      throw RuntimeError("temperature must be positive, got \(temperature)")
    }
    let testCount = testLabels.count
    let maxK = min(ks.max()!, count)
    let rows = max(1, min(testCount, chunk ?? max(1, (16 << 20) / max(1, count))))
    var test = testFeatures
    Self.l2Normalize(&test, dim: dim)
    var top1 = [Int](repeating: 0, count: ks.count)
    var top5 = [Int](repeating: 0, count: ks.count)
    var similarity = [Float](repeating: 0, count: rows * count)
    var start = 0
    while start < testCount {
      let m = min(rows, testCount - start)
      test.withUnsafeBufferPointer { a in
        features.withUnsafeBufferPointer { b in
          similarity.withUnsafeMutableBufferPointer { c in
            dino_sgemm_nt(
              Int32(m), Int32(count), Int32(dim), a.baseAddress! + start * dim, b.baseAddress!,
              c.baseAddress!)
          }
        }
      }
      let hits = similarity.withUnsafeBufferPointer { sims in
        classifyRows(
          sims, rows: m, targets: testLabels[start..<start + m], ks: ks, maxK: maxK,
          temperature: temperature)
      }
      for i in ks.indices {
        top1[i] += hits[i].top1
        top5[i] += hits[i].top5
      }
      start += m
    }
    return ks.indices.map {
      Result(
        k: ks[$0], top1: Double(top1[$0]) * 100 / Double(testCount),
        top5: Double(top5[$0]) * 100 / Double(testCount))
    }
  }

  /// Counts, per k, the rows whose target is the top class and among the top min(5, k).
  private func classifyRows(
    _ sims: UnsafeBufferPointer<Float>, rows: Int, targets: ArraySlice<Int32>, ks: [Int],
    maxK: Int, temperature: Double
  ) -> [(top1: Int, top5: Int)] {
    let workers = min(rows, max(1, ProcessInfo.processInfo.activeProcessorCount))
    let per = (rows + workers - 1) / workers
    let storage = UnsafeMutableBufferPointer<Int>.allocate(capacity: workers * ks.count * 2)
    storage.initialize(repeating: 0)
    defer { storage.deallocate() }
    let base = targets.startIndex
    nonisolated(unsafe) let sims = sims
    nonisolated(unsafe) let counts = storage
    DispatchQueue.concurrentPerform(iterations: workers) { w in
      for r in w * per..<min(rows, (w + 1) * per) {
        let row = UnsafeBufferPointer(rebasing: sims[r * count..<(r + 1) * count])
        let neighbours = Self.nearest(row, k: maxK)
        for (i, k) in ks.enumerated() {
          let top = neighbours.prefix(min(k, maxK))
          let scores = Self.classScores(
            similarities: top.map(\.similarity), labels: top.map { labels[$0.index] },
            classCount: classCount, temperature: temperature)
          let order = Self.ranking(scores)
          let target = Int(targets[base + r])
          if order.first == target { counts[(w * ks.count + i) * 2] += 1 }
          if order.prefix(min(5, k)).contains(target) { counts[(w * ks.count + i) * 2 + 1] += 1 }
        }
      }
    }
    return ks.indices.map { i in
      (0..<workers).reduce(into: (top1: 0, top5: 0)) { sum, w in
        sum.top1 += counts[(w * ks.count + i) * 2]
        sum.top5 += counts[(w * ks.count + i) * 2 + 1]
      }
    }
  }

  /// The `k` largest entries of `row` (clamped to its length), most similar first; equal
  /// similarities in index order.
  public static func nearest(_ row: UnsafeBufferPointer<Float>, k: Int) -> [(
    index: Int, similarity: Float
  )] {
    let k = min(k, row.count)
    guard k > 0 else { return [] }
    // Min-heap (worst kept neighbour at the root) of (similarity, index).
    func worse(_ a: (Int, Float), _ b: (Int, Float)) -> Bool {
      a.1 < b.1 || (a.1 == b.1 && a.0 > b.0)
    }
    var heap: [(Int, Float)] = []
    heap.reserveCapacity(k)
    func siftDown(_ start: Int) {
      var i = start
      while true {
        let l = 2 * i + 1
        let r = l + 1
        var m = i
        if l < heap.count && worse(heap[l], heap[m]) { m = l }
        if r < heap.count && worse(heap[r], heap[m]) { m = r }
        if m == i { return }
        heap.swapAt(i, m)
        i = m
      }
    }
    for (index, s) in row.enumerated() {
      if heap.count < k {
        heap.append((index, s))
        var i = heap.count - 1
        while i > 0 && worse(heap[i], heap[(i - 1) / 2]) {
          heap.swapAt(i, (i - 1) / 2)
          i = (i - 1) / 2
        }
      } else if worse(heap[0], (index, s)) {
        heap[0] = (index, s)
        siftDown(0)
      }
    }
    return heap.sorted { worse($1, $0) }.map { (index: $0.0, similarity: $0.1) }
  }

  /// Class scores of one test sample: score_c = Σ_j [y_j = c]·exp(s_j / T).
  public static func classScores(
    similarities: [Float], labels: [Int32], classCount: Int, temperature: Double
  ) -> [Double] {
    var scores = [Double](repeating: 0, count: classCount)
    for (s, y) in zip(similarities, labels) { scores[Int(y)] += exp(Double(s) / temperature) }
    return scores
  }

  /// Class indices by descending score; equal scores by lower class index.
  public static func ranking(_ scores: [Double]) -> [Int] {
    scores.indices.sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
  }

  /// Divides each row of `x` ([n, dim]) by max(‖row‖₂, 1e-12), as torch's normalize.
  public static func l2Normalize(_ x: inout [Float], dim: Int) {
    guard dim > 0 else { return }
    for r in 0..<x.count / dim {
      var sum: Double = 0
      for j in 0..<dim { sum += Double(x[r * dim + j]) * Double(x[r * dim + j]) }
      let scale = Float(1 / max(sum.squareRoot(), 1e-12))
      for j in 0..<dim { x[r * dim + j] *= scale }
    }
  }

  /// Checks sizes and labels of one feature set.
  private static func check(
    _ features: [Float], _ labels: [Int32], dim: Int, classCount: Int, what: String
  ) throws(RuntimeError) {
    guard dim >= 1 else { throw RuntimeError("feature dimension must be positive, got \(dim)") }
    guard !labels.isEmpty else { throw RuntimeError("no \(what) samples for the k-NN classifier") }
    guard features.count == labels.count * dim else {
      throw RuntimeError(
        "\(what) features hold \(features.count) values, expected \(labels.count) × \(dim)")
    }
    if let bad = labels.first(where: { $0 < 0 || Int($0) >= classCount }) {
      throw RuntimeError("\(what) label \(bad) is outside 0..<\(classCount)")
    }
  }
}
