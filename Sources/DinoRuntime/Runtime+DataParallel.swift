import CDinoKernels
import DinoIR

/// Sums gradient buckets over the processes of a data-parallel run (an MPI communicator in
/// DinoTraining; the runtime knows no MPI). `Runtime` calls it from inside a program run.
public protocol GradientExchange: AnyObject {
  /// Starts summing `count` floats at `data` over every process, in place (it may finish
  /// before returning). The memory stays untouched by the program until `finish`.
  func start(_ data: UnsafeMutablePointer<Float>, count: Int)
  /// Lets the started sums progress while the program computes.
  func progress()
  /// Waits for every started sum and turns each into the mean over the processes.
  func finish()
}

/// Sums values over the processes of a data-parallel run for the `all_reduce_sum` op (an
/// MPI communicator in DinoTraining). The kernel calls it from inside a program run, on the
/// thread that runs the program, at the same instruction on every process.
public protocol ProcessSum: AnyObject {
  /// Replaces `count` floats at `data` by their element-wise sum over every process.
  func sumOverProcesses(_ data: UnsafeMutablePointer<Float>, count: Int)
}

/// The C entry `all_reduce_sum` calls: `user` is the registered `ProcessSum`.
private func callProcessSum(
  _ data: UnsafeMutablePointer<Float>?, _ count: Int64,
  _ user: UnsafeMutableRawPointer?
) {
  guard let data, let user else { return }
  let sum = Unmanaged<AnyObject>.fromOpaque(user).takeUnretainedValue() as! ProcessSum
  sum.sumOverProcesses(data, count: Int(count))
}

/// One bucket of the `grad` region: whole segments, contiguous, all-reduced as one.
public struct GradientBucket: Sendable, Hashable {
  /// First float of the bucket in the `grad` region.
  public var offset: Int
  /// Floats in the bucket.
  public var count: Int
  /// Instructions of the program that run before the bucket is final (it starts then).
  public var readyAfter: Int
  /// The gradient buffers (`grad.<param>`) it holds, in layout order.
  public var buffers: [String]
}

/// How a program's run is split to share the `grad` region: the buckets in the order they
/// start, and the instruction before which every sum must be finished (`adamw_flat`, the
/// first reader of the whole region).
struct GradientSharing {
  var buckets: [GradientBucket]
  var finishBefore: Int
  var exchange: GradientExchange
  var base: UnsafeMutablePointer<Float>
}

extension Runtime {
  /// The buckets of `program`'s `grad` region for sums of about `bucketBytes` each (whole
  /// segments in layout order, a segment larger than that alone), each with the first
  /// instruction after which no instruction before the region's reader touches it.
  /// - Throws: `RuntimeError` when the plan has no flat gradient region or nothing reads it.
  public func gradientBuckets(of program: String, bucketBytes: Int) throws(RuntimeError)
    -> (buckets: [GradientBucket], finishBefore: Int)
  {
    let index = try self.index(of: program)
    guard let base = regionBase["grad"], let bytes = regionBytes["grad"], bytes > 0 else {
      throw RuntimeError(
        "the plan has no flat gradient region 'grad', which data-parallel training all-reduces: "
          + "compile it without --per-tensor-optimizer")
    }
    let compiled = programs[index]
    let nodes = graph.programs[index].nodes
    let regionStart = UInt(bitPattern: base)
    let regionEnd = regionStart + UInt(bytes)
    func span(_ tensor: Int) -> Range<UInt>? {
      let t = compiled.tensors[tensor]
      guard let data = t.data else { return nil }
      let start = UInt(bitPattern: data)
      let end = start + UInt(nodes[tensor].type.byteSize)
      return start < regionEnd && end > regionStart ? start..<end : nil
    }
    // The region's reader: the first instruction with the whole `grad` region as operand.
    var finishBefore: Int?
    for i in 0..<compiled.instrCount {
      let node = nodes[compiled.nodeOfInstr[i]]
      if node.operands.contains(where: {
        nodes[$0.index].op == .region && nodes[$0.index].attrs.string("name") == "grad"
      }) {
        finishBefore = i
        break
      }
    }
    guard let finishBefore else {
      throw RuntimeError("@\(program) does not read the 'grad' region: it has no flat optimiser")
    }
    let segments = placements.filter { $0.region == "grad" }.sorted { $0.offset < $1.offset }
    var lastTouch = [Int](repeating: 0, count: segments.count)
    for i in 0..<finishBefore {
      let out = compiled.nodeOfInstr[i]
      let touched = ([out] + nodes[out].operands.map(\.index)).compactMap(span)
      for range in touched {
        for (s, segment) in segments.enumerated() {
          let start = regionStart + UInt(segment.offset)
          if range.overlaps(start..<(start + UInt(segment.type.byteSize))) {
            lastTouch[s] = i + 1
          }
        }
      }
    }
    var buckets: [GradientBucket] = []
    var current: GradientBucket?
    for (s, segment) in segments.enumerated() {
      let first = segment.offset / 4
      let end = first + segment.type.count
      if var bucket = current {
        bucket.count = end - bucket.offset
        bucket.readyAfter = max(bucket.readyAfter, lastTouch[s])
        bucket.buffers.append(segment.name)
        current = bucket
      } else {
        current = GradientBucket(
          offset: first, count: end - first, readyAfter: lastTouch[s], buffers: [segment.name])
      }
      if let bucket = current, bucket.count * 4 >= bucketBytes {
        buckets.append(bucket)
        current = nil
      }
    }
    if let current { buckets.append(current) }
    buckets.sort { ($0.readyAfter, $0.offset) < ($1.readyAfter, $1.offset) }
    return (buckets, finishBefore)
  }

  /// Shares `program`'s gradients through `exchange` from now on: each run executes up to
  /// a bucket's last writer, starts that bucket's sum, lets the sums progress between
  /// stretches of instructions, and waits for all of them before the optimiser reads the
  /// region (which then holds the mean over the processes). nil stops sharing.
  public func shareGradients(
    of program: String, with exchange: GradientExchange?,
    bucketBytes: Int = Runtime.gradientBucketBytes
  ) throws(RuntimeError) {
    let index = try self.index(of: program)
    guard let exchange else {
      programs[index].sharing = nil
      return
    }
    let plan = try gradientBuckets(of: program, bucketBytes: bucketBytes)
    programs[index].sharing = GradientSharing(
      buckets: plan.buckets, finishBefore: plan.finishBefore, exchange: exchange,
      base: regionBase["grad"]!.assumingMemoryBound(to: Float.self))
  }

  /// Keys every `drop_path_mask` row by its image's row in the global batch of
  /// `worldSize` processes with `perRankBatch` images each, this one being `rank`
  /// (`dino_global_row`); `worldSize` 1 restores the single-process rows.
  public func setDataParallelRows(rank: Int, worldSize: Int, perRankBatch: Int) {
    for program in programs {
      program.context.pointee.rows = dino_row_map(
        rank: Int64(rank), world: Int64(worldSize), per_rank: Int64(perRankBatch))
    }
  }

  /// Makes every `all_reduce_sum` of every program sum over the processes through `sum`
  /// from now on; nil (the default) makes it the identity of a process alone.
  public func sumOverProcesses(with sum: ProcessSum?) {
    processSum = sum
    let user = sum.map { Unmanaged.passUnretained($0 as AnyObject).toOpaque() }
    for program in programs {
      program.context.pointee.rank_sum = sum == nil ? nil : callProcessSum
      program.context.pointee.rank_sum_user = user
    }
  }

  /// The default size of a gradient bucket: 4 MiB.
  public static let gradientBucketBytes = 1 << 22

  /// Instructions run between two `progress` calls while sums are open.
  static let instructionsBetweenProgress = 8

  /// Runs `compiled` in stretches around its gradient buckets (see `shareGradients`).
  func runSharing(_ compiled: CompiledProgram, _ sharing: GradientSharing) -> Int32 {
    var next = 0
    var started = false
    // Runs instructions next..<end, a few at a time while sums are open so that they
    // progress (an MPI library advances non-blocking collectives inside its calls).
    func exec(to end: Int) -> Int32 {
      while next < end {
        let stop = started ? min(end, next + Self.instructionsBetweenProgress) : end
        let status = dino_exec(compiled.instrs + next, Int32(stop - next), compiled.context)
        if status != 0 { return status + Int32(next) }
        next = stop
        if started { sharing.exchange.progress() }
      }
      return 0
    }
    for bucket in sharing.buckets {
      let status = exec(to: min(bucket.readyAfter, sharing.finishBefore))
      if status != 0 { return status }
      sharing.exchange.start(sharing.base + bucket.offset, count: bucket.count)
      started = true
    }
    let status = exec(to: sharing.finishBefore)
    if status != 0 { return status }
    sharing.exchange.finish()
    return exec(to: compiled.instrCount)
  }
}

extension Runtime {
  /// The memory of f32 output `name` of `program`, to combine it over processes in place
  /// (valid until the program runs again).
  public func outputFloats(_ name: String, program: String) throws(RuntimeError)
    -> UnsafeMutableBufferPointer<Float>
  {
    let index = try self.index(of: program)
    let compiled = programs[index]
    guard let node = compiled.outputs.first(where: { $0.name == name })?.node,
      graph.programs[index].nodes[node].type.dtype == .f32
    else {
      throw RuntimeError("@\(program) has no f32 output '\(name)'")
    }
    return UnsafeMutableBufferPointer(
      start: compiled.tensors[node].data!.assumingMemoryBound(to: Float.self),
      count: graph.programs[index].nodes[node].type.count)
  }
}
