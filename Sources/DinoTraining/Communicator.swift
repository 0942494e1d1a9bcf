import CDinoComm
import DinoRuntime
import Dispatch
import Foundation

/// The processes of a data-parallel run (MPI's world) as `dino-run train` uses them: this
/// process's rank, their number, the per-step sums and the gradient exchange of
/// `Runtime.shareGradients`. Without an MPI launcher it is a world of one and every call
/// is a no-op, so single-process runs never touch MPI.
public final class Communicator: GradientExchange, ProcessSum {
  /// This process's rank, 0..<size.
  public let rank: Int
  /// Processes in the run.
  public let size: Int
  /// Seconds spent inside communication calls (gradient buckets and per-step sums).
  public private(set) var seconds = 0.0
  /// Seconds spent waiting for the gradient sums before the optimiser.
  public private(set) var waitSeconds = 0.0
  /// Bytes all-reduced (each float counted once per reduction).
  public private(set) var bytes = 0
  /// Whether gradient buckets are summed with non-blocking calls that overlap the rest of
  /// the backward (default), or each one at once, blocking (`DINO_ALLREDUCE=blocking`).
  public var overlaps = ProcessInfo.processInfo.environment["DINO_ALLREDUCE"] != "blocking"
  /// The gradient buckets started and not yet finished.
  private var open: [(data: UnsafeMutablePointer<Float>, count: Int)] = []

  /// A world of one process (no MPI).
  public init() {
    rank = 0
    size = 1
  }

  private init(rank: Int, size: Int) {
    self.rank = rank
    self.size = size
  }

  /// The world this process belongs to: MPI's when an MPI launcher started it (MPI is
  /// initialised then), else a world of one.
  /// - Throws: `RuntimeError` when MPI cannot start.
  public static func world() throws(RuntimeError) -> Communicator {
    guard dino_comm_launched() != 0 else { return Communicator() }
    var rank: Int32 = 0
    var size: Int32 = 1
    var error = [CChar](repeating: 0, count: 256)
    let rc = dino_comm_init(&rank, &size, &error, Int32(error.count))
    guard rc == 0 else {
      throw RuntimeError(
        String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
          + " (started by mpirun/srun; check the MPI installation)")
    }
    return Communicator(rank: Int(rank), size: Int(size))
  }

  /// Whether several processes train together.
  public var isDistributed: Bool { size > 1 }

  /// Sums `values` over every process, in place.
  public func sum(_ values: inout [Double]) {
    guard isDistributed else { return }
    timed {
      _ = values.withUnsafeMutableBufferPointer {
        dino_comm_allreduce_sum_f64($0.baseAddress, Int64($0.count))
      }
    }
    bytes += 8 * values.count
  }

  /// Every process's `value`, indexed by rank.
  public func gather(_ value: Double) -> [Double] {
    var all = [Double](repeating: 0, count: size)
    all[rank] = value
    sum(&all)
    return all
  }

  /// Replaces `values` by their mean over every process (blocking).
  public func average(_ values: UnsafeMutableBufferPointer<Float>) {
    guard isDistributed, let base = values.baseAddress else { return }
    timed { _ = dino_comm_allreduce_sum(base, Int64(values.count)) }
    bytes += 4 * values.count
    scale(base, values.count)
  }

  /// Sums `count` floats over every process in place, blocking (`ProcessSum`, the
  /// `all_reduce_sum` op: the Sinkhorn-Knopp batch sums). An MPI failure ends the process
  /// with one line naming the rank (the kernel that calls it cannot report it).
  public func sumOverProcesses(_ data: UnsafeMutablePointer<Float>, count: Int) {
    guard isDistributed else { return }
    var rc: Int32 = 0
    timed { rc = dino_comm_allreduce_sum(data, Int64(count)) }
    bytes += 4 * count
    guard rc == 0 else {
      FileHandle.standardError.write(
        Data("error: rank \(rank): all_reduce_sum failed (MPI error \(rc)); stopping\n".utf8))
      exit(1)
    }
  }

  /// Starts summing a gradient bucket (`GradientExchange`).
  public func start(_ data: UnsafeMutablePointer<Float>, count: Int) {
    guard isDistributed else { return }
    timed {
      if !overlaps || dino_comm_iallreduce_sum(data, Int64(count)) < 0 {
        _ = dino_comm_allreduce_sum(data, Int64(count))
      }
    }
    bytes += 4 * count
    open.append((data, count))
  }

  /// Lets the started sums progress (`GradientExchange`).
  public func progress() {
    guard isDistributed, !open.isEmpty else { return }
    timed { _ = dino_comm_progress() }
  }

  /// Waits for the started sums and divides them by the process count (`GradientExchange`).
  public func finish() {
    guard isDistributed else { return }
    let started = Self.now()
    _ = dino_comm_wait_all()
    let waited = Self.now() - started
    seconds += waited
    waitSeconds += waited
    for bucket in open { scale(bucket.data, bucket.count) }
    open.removeAll(keepingCapacity: true)
  }

  /// Finalises MPI (after the last collective call of every process).
  public func finalize() {
    dino_comm_finalize()
  }

  /// Multiplies `count` floats by 1 / size.
  private func scale(_ data: UnsafeMutablePointer<Float>, _ count: Int) {
    let factor = 1 / Float(size)
    for i in 0..<count { data[i] *= factor }
  }

  /// Runs `body`, adding its duration to `seconds`.
  private func timed(_ body: () -> Void) {
    let started = Self.now()
    body()
    seconds += Self.now() - started
  }

  /// Monotonic seconds.
  static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) * 1e-9 }
}
