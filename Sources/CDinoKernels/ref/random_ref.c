/* random_ref.c — drop_path_mask written out from IR/CONTRACT.md's RNG definition, separately
 * from random.c, so the two check each other. */
#include "../kernels.h"

static uint64_t mix(uint64_t z) {
    z += 0x9E3779B97F4A7C15ull;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

void dino_drop_path_mask_ref(float *restrict mask, int32_t seed, int64_t stream, int64_t batch,
                             float rate) {
    for (int64_t b = 0; b < batch; b++) {
        uint64_t h = mix(mix(mix(mix((uint64_t)(uint32_t)seed) ^ (uint64_t)stream) ^ (uint64_t)b) ^ 0);
        float u = (float)(h >> 40) / 16777216.0f;
        mask[b] = u < 1.0f - rate ? 1.0f / (1.0f - rate) : 0.0f;
    }
}
