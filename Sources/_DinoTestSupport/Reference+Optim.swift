import DinoIR
import DinoRandom
import Foundation

extension ReferenceInterpreter {
  /// `drop_path_mask(seed) {rate, stream, batch}`: entry i is 1/(1 − rate) when
  /// uniform01(dino_hash(seed, stream, i, 0)) < 1 − rate, else 0.
  ///
  /// The threshold 1 − rate is rounded to `Float` as the kernels compute it (`1.0f - rate`
  /// on the f32 attribute slot), so both keep exactly the same samples.
  public static func dropPathMask(seed: Int32, rate: Double, stream: Int, batch: Int)
    -> ReferenceTensor
  {
    let keep = Double(Float(1) - Float(rate))
    return ReferenceTensor(shape: [batch]) { i in
      let h = CounterRandom.hash(
        UInt64(UInt32(bitPattern: seed)), UInt64(bitPattern: Int64(stream)), UInt64(i), 0)
      return CounterRandom.kernelUniform01(h) < keep ? 1 / (1 - rate) : 0
    }
  }

  /// `clip_grad_coef(g) {max_norm}` = min(1, max_norm/(‖g‖₂ + 1e-6)).
  public static func clipGradCoef(_ g: ReferenceTensor, maxNorm: Double) -> Double {
    min(1, maxNorm / (g.norm + 1e-6))
  }

  /// One `adamw_update` (PyTorch AdamW with a gate): the new p, m, v and step count t.
  /// If gate = 0 nothing changes; else t += 1, p ·= 1 − lr·wd·decay, m = β1·m + (1−β1)·g,
  /// v = β2·v + (1−β2)·g², p −= lr/(1−β1^t) · m/(√v/√(1−β2^t) + eps).
  public static func adamw(
    p: ReferenceTensor, g: ReferenceTensor, m: ReferenceTensor, v: ReferenceTensor,
    t: ReferenceTensor,
    lr: Double, wd: Double, gate: Double, beta1: Double, beta2: Double, eps: Double,
    decay: Double
  ) -> (p: ReferenceTensor, m: ReferenceTensor, v: ReferenceTensor, t: ReferenceTensor) {
    if gate == 0 { return (p, m, v, t) }
    let step = t.data[0] + 1
    var (p, m, v) = (p, m, v)
    let stepSize = lr / (1 - pow(beta1, step))
    let correction2 = (1 - pow(beta2, step)).squareRoot()
    for i in 0..<p.count {
      p.data[i] *= 1 - lr * wd * decay
      m.data[i] = beta1 * m.data[i] + (1 - beta1) * g.data[i]
      v.data[i] = beta2 * v.data[i] + (1 - beta2) * g.data[i] * g.data[i]
      p.data[i] -= stepSize * m.data[i] / (v.data[i].squareRoot() / correction2 + eps)
    }
    return (p, m, v, ReferenceTensor(shape: t.shape, data: [step]))
  }

  /// `ema_update(t, s, m)`: the new teacher m·t + (1 − m)·s.
  public static func ema(teacher: ReferenceTensor, student: ReferenceTensor, momentum: Double)
    -> ReferenceTensor
  {
    ReferenceTensor(shape: teacher.shape) { i in
      momentum * teacher.data[i] + (1 - momentum) * student.data[i]
    }
  }

  /// The rows of a flat op's segment table: element offset, count, step-count index,
  /// decay and gate flags (integers stored as hi·2^24 + lo).
  public static func segments(_ table: ReferenceTensor) throws(ReferenceError)
    -> [(offset: Int, count: Int, step: Int, decay: Bool, gated: Bool)]
  {
    guard table.shape.count == 2, table.shape[1] == 8 else {
      throw ReferenceError("segment table must be [S,8], got \(table.shape)")
    }
    return (0..<table.shape[0]).map { k in
      let row = Array(table.data[(8 * k)..<(8 * k + 8)])
      func int(_ c: Int) -> Int { Int(row[c]) * (1 << 24) + Int(row[c + 1]) }
      return (int(0), int(2), int(4), row[6] != 0, row[7] != 0)
    }
  }

  /// `adamw_flat`: per segment of `table`, clipping by the segment's own norm when
  /// `maxNorm` > 0, then `adamw` on that segment (gate 1 for ungated segments).
  public static func adamwFlat(
    p: ReferenceTensor, g: ReferenceTensor, m: ReferenceTensor, v: ReferenceTensor,
    steps: ReferenceTensor, lr: Double, wd: Double, gate: Double, table: ReferenceTensor,
    maxNorm: Double, beta1: Double, beta2: Double, eps: Double
  ) throws(ReferenceError)
    -> (p: ReferenceTensor, m: ReferenceTensor, v: ReferenceTensor, steps: ReferenceTensor)
  {
    var (p, m, v, steps) = (p, m, v, steps)
    for s in try segments(table) {
      guard s.offset + s.count <= p.count, s.step < steps.count else {
        throw ReferenceError("segment at \(s.offset) (+\(s.count)) lies outside the region")
      }
      func slice(_ x: ReferenceTensor) -> ReferenceTensor {
        ReferenceTensor(shape: [s.count], data: Array(x.data[s.offset..<(s.offset + s.count)]))
      }
      var grad = slice(g)
      if maxNorm > 0 {
        let coef = clipGradCoef(grad, maxNorm: maxNorm)
        grad = ReferenceTensor(shape: [s.count]) { i in grad.data[i] * coef }
      }
      let step = ReferenceTensor(shape: [], data: [steps.data[s.step]])
      let next = adamw(
        p: slice(p), g: grad, m: slice(m), v: slice(v), t: step, lr: lr, wd: wd,
        gate: s.gated ? gate : 1, beta1: beta1, beta2: beta2, eps: eps, decay: s.decay ? 1 : 0)
      p.data.replaceSubrange(s.offset..<(s.offset + s.count), with: next.p.data)
      m.data.replaceSubrange(s.offset..<(s.offset + s.count), with: next.m.data)
      v.data.replaceSubrange(s.offset..<(s.offset + s.count), with: next.v.data)
      steps.data[s.step] = next.t.data[0]
    }
    return (p, m, v, steps)
  }

  /// `ema_flat`: `ema` on every segment of `table`; the rest of the teacher is unchanged.
  public static func emaFlat(
    teacher: ReferenceTensor, student: ReferenceTensor, momentum: Double, table: ReferenceTensor
  ) throws(ReferenceError) -> ReferenceTensor {
    var teacher = teacher
    for s in try segments(table) {
      guard s.offset + s.count <= teacher.count else {
        throw ReferenceError("segment at \(s.offset) (+\(s.count)) lies outside the region")
      }
      for i in s.offset..<(s.offset + s.count) {
        teacher.data[i] = momentum * teacher.data[i] + (1 - momentum) * student.data[i]
      }
    }
    return teacher
  }
}
