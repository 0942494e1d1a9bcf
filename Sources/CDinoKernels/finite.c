/* finite.c — the finiteness scan of checked execution and of the trainer's per-step
 * weight check: one pass over float32 data testing the exponent bits, vectorisable
 * (a block at a time, stopping at the first block that holds a NaN or an infinity). */
#include <stdint.h>
#include <string.h>

#include "dino_kernels.h"

enum { BLOCK = 1024 };
static const uint32_t EXPONENT = 0x7f800000u;

int64_t dino_first_nonfinite(const float *x, int64_t n) {
    const uint32_t *bits = (const uint32_t *)(const void *)x;
    for (int64_t start = 0; start < n; start += BLOCK) {
        int64_t end = n - start < BLOCK ? n : start + BLOCK;
        uint32_t any = 0;
        for (int64_t i = start; i < end; i++) any |= (uint32_t)((bits[i] & EXPONENT) == EXPONENT);
        if (!any) continue;
        for (int64_t i = start; i < end; i++)
            if ((bits[i] & EXPONENT) == EXPONENT) return i;
    }
    return -1;
}
