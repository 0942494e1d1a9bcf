/* random_ref.c — drop_path_mask written out from IR/CONTRACT.md's definition, separately
 * from random.c's kernel; the generator itself is random.c's one definition (dino_hash). */
#include "dino_kernels.h"
#include "../kernels.h"

void dino_drop_path_mask_ref(float *restrict mask, int32_t seed, int64_t stream, int64_t batch,
                             float rate, const struct dino_row_map *rows) {
    for (int64_t b = 0; b < batch; b++) {
        int64_t row = b;  // the image's row in the global batch (IR/CONTRACT.md)
        if (rows != NULL && rows->world > 1 && rows->per_rank > 0)
            row = (b / rows->per_rank) * rows->world * rows->per_rank + rows->rank +
                  rows->world * (b % rows->per_rank);
        uint64_t h = dino_hash((uint64_t)(uint32_t)seed, (uint64_t)stream, (uint64_t)row, 0);
        float u = (float)(h >> 40) / 16777216.0f;
        mask[b] = u < 1.0f - rate ? 1.0f / (1.0f - rate) : 0.0f;
    }
}
