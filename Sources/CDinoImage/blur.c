/* blur.c — Pillow's GaussianBlur: an "extended box blur" (Gwosdek et al. 2011).
 *
 * Each direction gets three passes of a box filter of fractional radius r = l + a: the
 * 2l+1 central taps weigh ww = 2^24 / (2r + 1) (float division, truncated) and the two
 * outer taps fw = (2^24 - (2l+1)·ww) / 2; out = (Σ + 2^23) >> 24. Indices outside the
 * line repeat the edge value. Rows are blurred first, then columns (as Pillow). Each pass
 * runs down the columns with running sums (the row passes on the transposed image), so the
 * inner loops are contiguous and vectorise.
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

/* One box pass down the columns of a rows × len array (values interleaved freely along a
 * row): out[y][i] = (ww·Σ_{|k|≤l} in[y+k][i] + fw·(in[y−l−1][i] + in[y+l+1][i]) + 2^23) >> 24,
 * row indices clamped to the edges. The running column sums make each row O(len) and
 * the inner loops vectorise across the row. */
static void box_pass_rows(const uint8_t *in, uint8_t *out, int rows, int len, int radius,
                          uint32_t ww, uint32_t fw, uint32_t *acc) {
    for (int i = 0; i < len; i++) acc[i] = 0;
    for (int k = -radius; k <= radius; k++) {
        const uint8_t *row = in + (size_t)(k < 0 ? 0 : k >= rows ? rows - 1 : k) * len;
        for (int i = 0; i < len; i++) acc[i] += row[i];
    }
    for (int y = 0; y < rows; y++) {
        int lo = y - radius - 1, hi = y + radius + 1, old = y - radius;
        const uint8_t *a = in + (size_t)(lo < 0 ? 0 : lo) * len;
        const uint8_t *b = in + (size_t)(hi >= rows ? rows - 1 : hi) * len;
        const uint8_t *c = in + (size_t)(old < 0 ? 0 : old >= rows ? rows - 1 : old) * len;
        uint8_t *o = out + (size_t)y * len;
        for (int i = 0; i < len; i++) {
            uint32_t bulk = acc[i] * ww + (uint32_t)(a[i] + b[i]) * fw;
            o[i] = (uint8_t)((bulk + (1u << 23)) >> 24);
            acc[i] += (uint32_t)b[i] - c[i];
        }
    }
}

/* Transposes a rows × cols image of `channels`-byte pixels into cols × rows (tiled, with the
 * pixel size a compile-time constant in each branch). */
#define TRANSPOSE_TILE(C)                                                                          \
    for (int y = y0; y < y1; y++)                                                                  \
        for (int x = x0; x < x1; x++)                                                              \
            for (int k = 0; k < (C); k++)                                                          \
                out[((size_t)x * rows + y) * (C) + k] = in[((size_t)y * cols + x) * (C) + k];

static void transpose(const uint8_t *in, uint8_t *out, int rows, int cols, int channels) {
    const int tile = 16;
    for (int y0 = 0; y0 < rows; y0 += tile)
        for (int x0 = 0; x0 < cols; x0 += tile) {
            int y1 = y0 + tile < rows ? y0 + tile : rows, x1 = x0 + tile < cols ? x0 + tile : cols;
            if (channels == 1)
                TRANSPOSE_TILE(1)
            else
                TRANSPOSE_TILE(3)
        }
}

/* Three box passes down the rows of `img` (rows × len), using `tmp` (same size). */
static void blur_down(uint8_t *img, uint8_t *tmp, int rows, int len, float fradius, uint32_t *acc) {
    int radius = (int)fradius;
    uint32_t ww = (uint32_t)((float)(1 << 24) / (fradius * 2 + 1));
    uint32_t fw = ((1u << 24) - (uint32_t)(radius * 2 + 1) * ww) / 2;
    box_pass_rows(img, tmp, rows, len, radius, ww, fw, acc);
    box_pass_rows(tmp, img, rows, len, radius, ww, fw, acc);
    box_pass_rows(img, tmp, rows, len, radius, ww, fw, acc);
    memcpy(img, tmp, (size_t)rows * len);
}

int dino_gaussian_blur(uint8_t *img, int w, int h, int channels, float sigma, dino_bytes *scratch) {
    if (w <= 0 || h <= 0 || (channels != 1 && channels != 3) || !(sigma >= 0.0f))
        return DINO_IMG_ERR_ARG;
    float fradius = dino_box_radius(sigma, 3);
    if (!(fradius > 0.0f)) return DINO_IMG_OK;
    size_t bytes = (size_t)w * h * channels;
    size_t longest = (size_t)(w > h ? w : h) * channels;
    size_t acc_off = (2 * bytes + 63) & ~(size_t)63;
    if (dino_bytes_reserve(scratch, acc_off + longest * sizeof(uint32_t)) != DINO_IMG_OK)
        return DINO_IMG_ERR_MEMORY;
    uint8_t *t = scratch->data, *tmp = scratch->data + bytes;
    uint32_t *acc = (uint32_t *)(scratch->data + acc_off);
    /* Rows first (as columns of the transposed image), then columns. */
    transpose(img, t, h, w, channels);
    blur_down(t, tmp, w, h * channels, fradius, acc);
    transpose(t, img, w, h, channels);
    blur_down(img, tmp, h, w * channels, fradius, acc);
    return DINO_IMG_OK;
}
