/* blur.c — Pillow's GaussianBlur: an "extended box blur" (Gwosdek et al. 2011).
 *
 * Each direction gets three passes of a box filter of fractional radius r = l + a: the
 * 2l+1 central taps weigh ww = 2^24 / (2r + 1) (float division, truncated) and the two
 * outer taps fw = (2^24 - (2l+1)·ww) / 2; out = (Σ + 2^23) >> 24. Indices outside the
 * line repeat the edge value. Rows are blurred first, then columns.
 */
#pragma STDC FP_CONTRACT OFF
#include "dino_image.h"

#include <math.h>
#include <string.h>

float dino_box_radius(float sigma, int passes) {
    float sigma2 = sigma * sigma / passes;
    float length = sqrt(12.0 * sigma2 + 1.0);
    float l = floor((length - 1.0) / 2.0);
    float a = (2 * l + 1) * (l * (l + 1) - 3 * sigma2);
    a /= 6 * (sigma2 - (l + 1) * (l + 1));
    return l + a;
}

/* One box pass over a line of n values: `padded` holds the line with pad = radius + 1
 * replicated values on each side; the result goes to `out`. */
static void box_line(const uint8_t *padded, int n, int radius, uint32_t ww, uint32_t fw,
                     uint8_t *out) {
    const uint8_t *line = padded + radius + 1;
    uint32_t acc = 0;
    for (int k = -radius; k <= radius; k++) acc += line[k];
    for (int x = 0; x < n; x++) {
        uint32_t bulk = acc * ww + (uint32_t)(line[x - radius - 1] + line[x + radius + 1]) * fw;
        out[x] = (uint8_t)((bulk + (1u << 23)) >> 24);
        acc += line[x + radius + 1];
        acc -= line[x - radius];
    }
}

/* Three passes over `count` lines of length n; element i of line j is at
 * base[j * line_step + i * elem_step]. `work` has room for 2 * (n + 2 * (radius + 1)). */
static void blur_lines(uint8_t *base, int count, size_t line_step, int n, size_t elem_step,
                       float fradius, uint8_t *work) {
    int radius = (int)fradius;
    uint32_t ww = (uint32_t)((float)(1 << 24) / (fradius * 2 + 1));
    uint32_t fw = ((1u << 24) - (uint32_t)(radius * 2 + 1) * ww) / 2;
    int pad = radius + 1;
    uint8_t *a = work, *b = work + n + 2 * pad;
    for (int j = 0; j < count; j++) {
        uint8_t *p = base + (size_t)j * line_step;
        for (int i = 0; i < n; i++) a[pad + i] = p[(size_t)i * elem_step];
        for (int pass = 0; pass < 3; pass++) {
            memset(a, a[pad], (size_t)pad);
            memset(a + pad + n, a[pad + n - 1], (size_t)pad);
            box_line(a, n, radius, ww, fw, b + pad);
            uint8_t *t = a;
            a = b;
            b = t;
        }
        for (int i = 0; i < n; i++) p[(size_t)i * elem_step] = a[pad + i];
    }
}

int dino_gaussian_blur(uint8_t *img, int w, int h, int channels, float sigma,
                       dino_bytes *scratch) {
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3) || !(sigma >= 0.0f))
        return DINO_IMG_ERR_ARG;
    float fradius = dino_box_radius(sigma, 3);
    if (!(fradius > 0.0f)) return DINO_IMG_OK;
    int pad = (int)fradius + 1;
    int longest = w > h ? w : h;
    if (dino_bytes_reserve(scratch, 2 * ((size_t)longest + 2 * (size_t)pad)) != DINO_IMG_OK)
        return DINO_IMG_ERR_MEMORY;
    for (int c = 0; c < channels; c++) /* rows */
        blur_lines(img + c, h, (size_t)w * channels, w, (size_t)channels, fradius,
                   scratch->data);
    for (int c = 0; c < channels; c++) /* columns */
        blur_lines(img + c, w, (size_t)channels, h, (size_t)w * channels, fradius,
                   scratch->data);
    return DINO_IMG_OK;
}
