import Foundation

#if canImport(Glibc)
  import Glibc
#endif

/// Worker threads that fill a ring of reusable batch slots, in batch order, ahead of the
/// consumer. A batch is a list of independent items (samples); workers claim items of the
/// oldest unfinished batch first, so the batch the trainer needs next completes first.
/// What an item computes depends only on (batch, item), never on which worker ran it.
final class Prefetcher: @unchecked Sendable {
  /// Fills item `item` of batch `batch` into slot `slot` on worker `worker`; returns a
  /// fatal error message, or nil.
  typealias Job = @Sendable (_ worker: Int, _ batch: Int, _ item: Int, _ slot: Int) -> String?

  private let cond = NSCondition()
  private let itemCount: @Sendable (Int) -> Int
  private let job: Job
  private let workers: Int
  private let nice: Int32
  private var slotBatch: [Int]
  private var slotItems: [Int]
  private var slotClaimed: [Int]
  private var slotDone: [Int]
  private var nextAssign = 0
  private var nextDeliver = 0
  private var stopping = false
  private var failure: String?
  private var running = 0
  private var waited: Double = 0

  /// `depth` slots, `workers` threads at niceness `nice` (added to the process's);
  /// `itemCount(g)` is the number of items of batch g, 0 past the end of the stream.
  init(
    depth: Int, workers: Int, nice: Int32, itemCount: @escaping @Sendable (Int) -> Int,
    job: @escaping Job
  ) {
    precondition(depth >= 1 && workers >= 1)
    self.itemCount = itemCount
    self.job = job
    self.workers = workers
    self.nice = nice
    slotBatch = Array(repeating: -1, count: depth)
    slotItems = Array(repeating: 0, count: depth)
    slotClaimed = Array(repeating: 0, count: depth)
    slotDone = Array(repeating: 0, count: depth)
  }

  /// Starts the worker threads.
  func start() {
    cond.lock()
    running = workers
    cond.unlock()
    for w in 0..<workers {
      let thread = Thread { [self] in self.workerLoop(w) }
      thread.name = "dino-data-\(w)"
      thread.start()
    }
  }

  /// Stops the workers after their current item and waits for them to exit.
  func stop() {
    cond.lock()
    stopping = true
    cond.broadcast()
    while running > 0 { cond.wait() }
    cond.unlock()
  }

  /// Seconds the consumer has spent blocked in `acquire` so far.
  var waitSeconds: Double {
    cond.lock()
    defer { cond.unlock() }
    return waited
  }

  /// Blocks until the next batch is complete and returns its slot and number, or nil
  /// past the end of the stream. Throws a worker's fatal error.
  func acquire() throws(DataError) -> (slot: Int, batch: Int)? {
    cond.lock()
    defer { cond.unlock() }
    let g = nextDeliver
    if itemCount(g) == 0 { return nil }
    let start = monotonicSeconds()
    while true {
      if let failure { throw DataError(failure) }
      if let s = slotBatch.firstIndex(of: g), slotDone[s] == slotItems[s] {
        nextDeliver += 1
        waited += monotonicSeconds() - start
        return (s, g)
      }
      if running == 0 { throw DataError("data workers have stopped") }
      cond.wait()
    }
  }

  /// Gives a slot back for refilling.
  func release(_ slot: Int) {
    cond.lock()
    slotBatch[slot] = -1
    cond.broadcast()
    cond.unlock()
  }

  /// Claims the next item (called with the lock held).
  private func claim() -> (slot: Int, batch: Int, item: Int)? {
    var best = -1
    for s in slotBatch.indices where slotBatch[s] >= 0 && slotClaimed[s] < slotItems[s] {
      if best < 0 || slotBatch[s] < slotBatch[best] { best = s }
    }
    if best < 0, let free = slotBatch.firstIndex(of: -1) {
      let n = itemCount(nextAssign)
      if n > 0 {
        slotBatch[free] = nextAssign
        slotItems[free] = n
        slotClaimed[free] = 0
        slotDone[free] = 0
        nextAssign += 1
        best = free
      }
    }
    guard best >= 0 else { return nil }
    let item = slotClaimed[best]
    slotClaimed[best] += 1
    return (best, slotBatch[best], item)
  }

  private func workerLoop(_ worker: Int) {
    lowerPriority(by: nice)
    cond.lock()
    while !stopping {
      guard failure == nil, let (slot, batch, item) = claim() else {
        cond.wait()
        continue
      }
      cond.unlock()
      let problem = job(worker, batch, item, slot)
      cond.lock()
      if let problem, failure == nil { failure = problem }
      slotDone[slot] += 1
      if slotDone[slot] == slotItems[slot] || problem != nil { cond.broadcast() }
    }
    running -= 1
    cond.broadcast()
    cond.unlock()
  }
}

/// Lowers the calling thread's scheduling priority (Linux: per-thread niceness), so data
/// workers fill the gaps of the compute threads instead of preempting them.
func lowerPriority(by nice: Int32) {
  #if os(Linux)
    guard nice > 0 else { return }
    let tid: id_t = 0  // under Linux/NPTL, "0" names the calling thread, not the process
    errno = 0
    let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid)
    if errno == 0 {
      _ = setpriority(__priority_which_t(PRIO_PROCESS.rawValue), tid, min(19, current + nice))
    }
  #endif
}

/// Seconds on the monotonic clock.
func monotonicSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_MONOTONIC, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}
