import DinoIR
import DinoRandom
import Foundation

extension ReferenceInterpreter {
  /// `drop_path_mask(seed) {rate, stream, batch}`: entry i is 1/(1 − rate) when
  /// uniform01(dino_hash(seed, stream, i, 0)) < 1 − rate, else 0.
  ///
  /// The threshold 1 − rate is rounded to `Float` as the kernels compute it (`1.0f - rate`
  /// on the f32 attribute slot), so both keep exactly the same samples.
  public static func dropPathMask(seed: Int32, rate: Double, stream: Int, batch: Int) -> ReferenceTensor
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
    p: ReferenceTensor, g: ReferenceTensor, m: ReferenceTensor, v: ReferenceTensor, t: ReferenceTensor,
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
  public static func ema(teacher: ReferenceTensor, student: ReferenceTensor, momentum: Double) -> ReferenceTensor {
    ReferenceTensor(shape: teacher.shape) { i in
      momentum * teacher.data[i] + (1 - momentum) * student.data[i]
    }
  }
}
