/* random.c — the counter-based RNG of IR/CONTRACT.md and drop_path_mask. A value depends only
 * on its key (seed, stream, index), never on threads or on earlier draws. */
#include "dino_kernels.h"
#include "internal.h"
#include "shim.h"

uint64_t dino_splitmix64(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint64_t dino_hash(uint64_t k0, uint64_t k1, uint64_t k2, uint64_t k3) {
    return dino_splitmix64(dino_splitmix64(dino_splitmix64(dino_splitmix64(k0) ^ k1) ^ k2) ^ k3);
}

float dino_uniform01(uint64_t h) { return (float)(h >> 40) * 0x1p-24f; }

int64_t dino_global_row(int64_t b, const struct dino_row_map *map) {
    if (map == NULL || map->world <= 1 || map->per_rank <= 0) return b;
    int64_t view = b / map->per_rank, item = b % map->per_rank;
    return view * map->world * map->per_rank + map->rank + map->world * item;
}

/** mask[b] = 1/(1−rate) with probability 1−rate, else 0; keyed (seed, stream, row), row =
 *  dino_global_row(b, rows) (b itself in one process). */
static void dino_drop_path_mask_fwd(float *restrict mask, int32_t seed, int64_t stream,
                                    int64_t batch, float rate, const struct dino_row_map *rows) {
    // mask is (batch): sample b is kept, scaled by 1/(1 − rate), iff
    // uniform01(dino_hash(seed as u32, stream, row, 0)) < 1 − rate, row its global row.
    float keep = 1.0f - rate, scale = 1.0f / keep;
    uint64_t key = (uint64_t)(uint32_t)seed;
    for (int64_t b = 0; b < batch; b++) {
        uint64_t h = dino_hash(key, (uint64_t)stream, (uint64_t)dino_global_row(b, rows), 0);
        mask[b] = dino_uniform01(h) < keep ? scale : 0.0f;
    }
}

/* ---- dispatch shims: instruction to kernel call (shim.h) ---------------------------- */

void dino_run_drop_path_mask(const struct dino_instr *ins, struct dino_exec_ctx *ctx) {
    const struct dino_attrs_drop_path_mask A = ATTRS(drop_path_mask);
    dino_drop_path_mask_fwd(F(OUT), *(const int32_t *)IN(0)->data, A.stream, A.batch, A.rate,
                            &ctx->rows);
}
