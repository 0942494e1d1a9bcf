// bench_data.swift — images per second of DinoData's multi-crop loader.
//
// Built and run by tools/bench_data.sh (which links it against the release DinoData):
//   bench_data make-jpegs DIR COUNT SIDE_W SIDE_H   write COUNT synthetic JPEGs in 4 classes
//   bench_data RECIPE DIR THREADS SECONDS          RECIPE: fmnist | tiny224
//   bench_data contention RECIPE DIR SECONDS RATE  1 worker (training defaults) next to busy
//                                                  compute threads on every core, consumed at
//                                                  RATE images/s: wait time and compute loss
// Prints one line per measurement.
import DinoData
import DinoRandom
import Foundation

func fail(_ message: String) -> Never {
  FileHandle.standardError.write(Data("error: \(message)\n".utf8))
  exit(1)
}

func now() -> Double { Date().timeIntervalSince1970 }

/// Photo-like synthetic pictures: a few octaves of smooth value noise per channel plus fine
/// grain, so JPEG files have realistic entropy (≈ 20–40 KB at 224², quality 90).
func synthetic(width: Int, height: Int, seed: UInt64) -> Image {
  func lattice(_ x: Int, _ y: Int, _ c: Int, _ o: Int) -> Double {
    CounterRandom.uniform01(CounterRandom.hash(seed, UInt64(o * 3 + c), UInt64(x), UInt64(y)))
  }
  var pixels = [UInt8](repeating: 0, count: width * height * 3)
  for y in 0..<height {
    for x in 0..<width {
      for c in 0..<3 {
        var v = 0.0
        var amp = 0.6
        for o in 0..<4 {
          let cell = Double(64 >> o)
          let fx = Double(x) / cell
          let fy = Double(y) / cell
          let ix = Int(fx)
          let iy = Int(fy)
          let tx = fx - Double(ix)
          let ty = fy - Double(iy)
          let sx = tx * tx * (3 - 2 * tx)
          let sy = ty * ty * (3 - 2 * ty)
          let top = lattice(ix, iy, c, o) * (1 - sx) + lattice(ix + 1, iy, c, o) * sx
          let bottom = lattice(ix, iy + 1, c, o) * (1 - sx) + lattice(ix + 1, iy + 1, c, o) * sx
          v += amp * (top * (1 - sy) + bottom * sy)
          amp *= 0.5
        }
        let grain =
          (CounterRandom.uniform01(CounterRandom.hash(seed, 99, UInt64(x), UInt64(y * 3 + c))) - 0.5)
          * 0.08
        pixels[(y * width + x) * 3 + c] = UInt8(max(0, min(255, (v / 1.125 + grain) * 255)))
      }
    }
  }
  return Image(width: width, height: height, channels: 3, pixels: pixels)
}

func makeJPEGs(dir: String, count: Int, width: Int, height: Int) {
  for i in 0..<count {
    let folder = "\(dir)/class\(i % 4)"
    try? FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    do {
      try synthetic(width: width, height: height, seed: UInt64(i)).writeJPEG(
        to: String(format: "%@/%05d.jpg", folder, i), quality: 90)
    } catch { fail(error.description) }
  }
}

func recipe(_ name: String) -> MultiCropConfig {
  do {
    switch name {
    case "fmnist":
      return try MultiCropConfig(hyper: [
        "global_size": 28, "local_size": 12, "local_crops": 6, "channels": 1, "batch": 64,
      ])
    case "tiny224":
      return try MultiCropConfig(hyper: [
        "global_size": 224, "local_size": 96, "local_crops": 8, "channels": 3, "batch": 8,
      ])
    default: fail("unknown recipe \(name) (fmnist, tiny224)")
    }
  } catch { fail(error.description) }
}

/// Decoding alone, on the calling thread.
func decodeRate(_ folder: ImageFolder, channels: Int, seconds: Double) -> Double {
  let start = now()
  var n = 0
  while now() - start < seconds {
    _ = try? Image(contentsOf: folder.paths[n % folder.count], channels: channels == 1 ? 1 : nil)
    n += 1
  }
  return Double(n) / (now() - start)
}

func loaderRate(_ folder: ImageFolder, config: MultiCropConfig, threads: Int, seconds: Double)
  -> Double
{
  do {
    let loader = try BatchLoader(
      folder: folder, config: config, workers: threads, prefetch: 4, nice: 0)
    try loader.withNextBatch { _ in }  // warm-up
    let start = now()
    var images = 0
    while now() - start < seconds {
      try loader.withNextBatch { _ in }
      images += config.batchSize
    }
    return Double(images) / (now() - start)
  } catch { fail("\(error)") }
}

/// Busy "compute" threads (one per core) counting blocks of multiply-adds.
final class Spinner: @unchecked Sendable {
  private let lock = NSLock()
  private var work = 0.0
  private var stop = false
  private var done = 0
  /// CPU seconds the spinning threads used (valid after `finish`).
  private(set) var cpu = 0.0

  /// Starts `threads` spinning threads; the returned function stops them and gives the
  /// blocks of work done per second.
  func start(threads: Int) -> () -> Double {
    let begin = now()
    lock.lock()
    (work, stop, done, cpu) = (0, false, 0, 0)
    lock.unlock()
    for _ in 0..<threads {
      Thread { [self] in
        var x = [Float](repeating: 1.0001, count: 256)
        var count = 0.0
        while true {
          for _ in 0..<2000 { for i in 0..<256 { x[i] = x[i] * 0.9999 + 0.0001 } }
          count += 1
          lock.lock()
          let finished = stop
          if finished {
            (work, done) = (work + count + Double(x[0] > 2 ? 1 : 0), done + 1)
            cpu += threadCPUSeconds()
          }
          lock.unlock()
          if finished { return }
        }
      }.start()
    }
    return { [self] in
      lock.lock()
      stop = true
      lock.unlock()
      while true {
        lock.lock()
        let all = done == threads
        lock.unlock()
        if all { break }
        Thread.sleep(forTimeInterval: 0.005)
      }
      return work / (now() - begin)
    }
  }
}

/// CPU seconds of the calling thread.
func threadCPUSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// CPU seconds of the whole process.
func processCPUSeconds() -> Double {
  var ts = timespec()
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts)
  return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

func contention(_ name: String, dir: String, seconds: Double, rate: Double) {
  let config = recipe(name)
  let folder: ImageFolder
  do { folder = try ImageFolder(path: dir) } catch { fail(error.description) }
  let cores = ProcessInfo.processInfo.activeProcessorCount
  let spinner = Spinner()
  let finishAlone = spinner.start(threads: cores)
  Thread.sleep(forTimeInterval: seconds)
  let alone = finishAlone()
  do {
    let loader = try BatchLoader(folder: folder, config: config, workers: 1)
    try loader.withNextBatch { _ in }  // start-up, not steady state
    _ = loader.takeWaitSeconds()
    let cpuStart = processCPUSeconds()
    let finish = spinner.start(threads: cores)
    let start = now()
    var batches = 0
    while now() - start < seconds {
      // The trainer computes on the previous batch for B / rate seconds, then asks for the
      // next one.
      batches += 1
      let due = start + Double(batches * config.batchSize) / rate
      if due > now() { Thread.sleep(forTimeInterval: due - now()) }
      try loader.withNextBatch { _ in }
    }
    let shared = finish()
    let elapsed = now() - start
    let waited = loader.takeWaitSeconds()
    let dataCPU = processCPUSeconds() - cpuStart - spinner.cpu
    print(
      String(
        format: "dino %@ contention: trainer consuming %.0f images/s on %d busy cores: "
          + "waited %.3f s of %.1f s (%.2f%%); data threads used %.1f%% of one core; "
          + "compute rate %.0f%% of alone (noisy on a shared machine)",
        name, rate, cores, waited, elapsed, 100 * waited / elapsed, 100 * dataCPU / elapsed,
        100 * shared / alone))
  } catch { fail("\(error)") }
}

let args = CommandLine.arguments
guard args.count >= 2 else { fail("usage: bench_data make-jpegs|fmnist|tiny224 …") }
if args[1] == "make-jpegs" {
  guard args.count == 6, let n = Int(args[3]), let w = Int(args[4]), let h = Int(args[5]) else {
    fail("usage: bench_data make-jpegs DIR COUNT WIDTH HEIGHT")
  }
  makeJPEGs(dir: args[2], count: n, width: w, height: h)
  exit(0)
}
if args[1] == "contention" {
  guard args.count == 6, let seconds = Double(args[4]), let rate = Double(args[5]) else {
    fail("usage: bench_data contention RECIPE DIR SECONDS RATE")
  }
  contention(args[2], dir: args[3], seconds: seconds, rate: rate)
  exit(0)
}
guard args.count == 5, let threads = Int(args[3]), let seconds = Double(args[4]) else {
  fail("usage: bench_data RECIPE DIR THREADS SECONDS")
}
let config = recipe(args[1])
let folder: ImageFolder
do { folder = try ImageFolder(path: args[2]) } catch { fail(error.description) }
let rate = loaderRate(folder, config: config, threads: threads, seconds: seconds)
let decode =
  threads == 1
  ? String(
    format: ", decode alone %.0f/s",
    decodeRate(folder, channels: config.channels, seconds: min(seconds, 3))) : ""
print(String(format: "dino %@ threads=%d: %.1f images/s%@", args[1], threads, rate, decode))
