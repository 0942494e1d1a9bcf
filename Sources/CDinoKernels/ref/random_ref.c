/* random_ref.c — drop_path_mask written out from IR/CONTRACT.md's definition, separately
 * from random.c's kernel; the generator itself is random.c's one definition (dino_hash). */
#include "dino_kernels.h"
#include "../kernels.h"

void dino_drop_path_mask_ref(float *restrict mask, int32_t seed, int64_t stream, int64_t batch,
                             float rate) {
    for (int64_t b = 0; b < batch; b++) {
        uint64_t h = dino_hash((uint64_t)(uint32_t)seed, (uint64_t)stream, (uint64_t)b, 0);
        float u = (float)(h >> 40) / 16777216.0f;
        mask[b] = u < 1.0f - rate ? 1.0f / (1.0f - rate) : 0.0f;
    }
}
