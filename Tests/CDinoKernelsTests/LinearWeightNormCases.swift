import CDinoKernels
import _DinoTestSupport

extension KernelCase {
  /// linear_weight_norm (`backward` nil) or linear_weight_norm_bwd {grad_g = backward} on
  /// (m, n, k): g in [0.5, 1.5], the rest in [-1, 1]. The weight-norm kernel tests share it.
  static func linearWeightNorm(
    _ m: Int, _ n: Int, _ k: Int, backward gradG: Bool?, _ rng: inout TestRNG
  ) -> KernelCase {
    guard let gradG else {
      return KernelCase(.linearWeightNorm, [[m, k], [n, k], [n, 1]], out: [m, n], rng: &rng) {
        i, r in i == 2 ? r.float(0.5, 1.5) : r.float(-1, 1)
      }
    }
    var c = KernelCase(
      .linearWeightNormBwd, [[m, n], [m, k], [n, k], [n, 1]], out: [m, k],
      iattr: [gradG ? 1 : 0], rng: &rng
    ) { i, r in i == 3 ? r.float(0.5, 1.5) : r.float(-1, 1) }
    c.extraOuts = [[n, k]] + (gradG ? [[n, 1]] : [])
    return c
  }
}
