/* resample.c — Pillow-exact bicubic resize (Image.resize with Resampling.BICUBIC).
 *
 * The arithmetic follows Pillow's separable resampler: a cubic convolution kernel with
 * a = -0.5 and support 2, widened by the scale factor when downscaling (antialiasing);
 * per output pixel the taps are normalised to sum 1 in double precision, then turned
 * into 22-bit fixed point; each 1-D pass accumulates integers with a rounding offset and
 * clamps to 8 bits. The horizontal pass runs first, over only the rows the vertical pass
 * reads; a pass whose size does not change is skipped. The horizontal pass runs as a
 * vertical one on the transposed rows, so that both inner loops are contiguous and vectorise
 * (the sums are integers, so the result is the same).
 */
#pragma STDC FP_CONTRACT OFF
#include "dino_image.h"

#include <math.h>
#include <string.h>

#define COEF_BITS 22

static double cubic(double x) {
    const double a = -0.5;
    if (x < 0.0) x = -x;
    if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
    if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
    return 0.0;
}

/* Taps for resizing `in_size` samples to `out_size`: for each output i, first[i] and
 * count[i] give the input range, and coef[i*taps ..] its fixed-point weights.
 * Returns the tap stride. `dbl` is a double work area of out_size*taps entries. */
static int tap_count(int in_size, int out_size) {
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    return (int)ceil(2.0 * filterscale) * 2 + 1;
}

static void compute_taps(int in_size, int out_size, int taps, int *first, int *count, int32_t *coef,
                         double *dbl) {
    double scale = (double)(float)in_size / out_size;
    double filterscale = scale < 1.0 ? 1.0 : scale;
    double support = 2.0 * filterscale;
    double inv = 1.0 / filterscale;
    for (int i = 0; i < out_size; i++) {
        double center = (i + 0.5) * scale;
        int lo = (int)(center - support + 0.5);
        int hi = (int)(center + support + 0.5);
        if (lo < 0) lo = 0;
        if (hi > in_size) hi = in_size;
        int n = hi - lo;
        double *k = dbl + (size_t)i * taps;
        double total = 0.0;
        for (int t = 0; t < n; t++) {
            k[t] = cubic((t + lo - center + 0.5) * inv);
            total += k[t];
        }
        for (int t = 0; t < n; t++)
            if (total != 0.0) k[t] /= total;
        for (int t = 0; t < taps; t++) {
            double v = t < n ? k[t] : 0.0;
            coef[(size_t)i * taps + t] = v < 0 ? (int32_t)(-0.5 + v * (1 << COEF_BITS))
                                               : (int32_t)(0.5 + v * (1 << COEF_BITS));
        }
        first[i] = lo;
        count[i] = n;
    }
}

static inline uint8_t clamp8(int32_t acc) {
    int32_t v = acc >> COEF_BITS; /* arithmetic shift: floor */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Copies a rows × cols block of `channels`-byte pixels (row stride `stride` bytes) into
 * cols × rows, packed. Used to run the horizontal pass as a vectorised vertical one.
 * Tiled, with the pixel size a compile-time constant in each branch. */
#define TRANSPOSE_TILE(C)                                                                          \
    for (int y = y0; y < y1; y++) {                                                                \
        const uint8_t *row = in + (size_t)y * stride;                                              \
        for (int x = x0; x < x1; x++)                                                              \
            for (int k = 0; k < (C); k++)                                                          \
                out[((size_t)x * rows + y) * (C) + k] = row[(size_t)x * (C) + k];                  \
    }

static void transpose(const uint8_t *in, size_t stride, int rows, int cols, int channels,
                      uint8_t *out) {
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

/* One vertical pass: row y of dst mixes rows first[y].. of src (offset by `shift`),
 * accumulated row-wise in `acc` (row_bytes int32) so the inner loop is contiguous. */
static void pass_vertical(const uint8_t *src, size_t src_stride, int row_bytes, uint8_t *dst,
                          int dh, int taps, const int *first, const int *count, const int32_t *coef,
                          int shift, int32_t *acc) {
    for (int y = 0; y < dh; y++) {
        const int32_t *k = coef + (size_t)y * taps;
        const uint8_t *base = src + (size_t)(first[y] - shift) * src_stride;
        int n = count[y];
        for (int x = 0; x < row_bytes; x++) acc[x] = 1 << (COEF_BITS - 1);
        for (int t = 0; t < n; t++) {
            const uint8_t *row = base + (size_t)t * src_stride;
            int32_t kt = k[t];
            for (int x = 0; x < row_bytes; x++) acc[x] += row[x] * kt;
        }
        uint8_t *out = dst + (size_t)y * row_bytes;
        for (int x = 0; x < row_bytes; x++) out[x] = clamp8(acc[x]);
    }
}

int dino_resize_bicubic(const uint8_t *src, size_t src_stride, int x, int y, int w, int h,
                        int channels, uint8_t *dst, int dw, int dh, dino_bytes *scratch) {
    if ((channels != 1 && channels != 3) || w <= 0 || h <= 0 || dw <= 0 || dh <= 0 || x < 0 ||
        y < 0)
        return DINO_IMG_ERR_ARG;
    const uint8_t *origin = src + (size_t)y * src_stride + (size_t)x * channels;
    int need_h = dw != w, need_v = dh != h;
    if (!need_h && !need_v) {
        for (int r = 0; r < h; r++)
            memcpy(dst + (size_t)r * dw * channels, origin + (size_t)r * src_stride,
                   (size_t)w * channels);
        return DINO_IMG_OK;
    }
    int th = tap_count(w, dw), tv = tap_count(h, dh);
    size_t nh = (size_t)dw * th, nv = (size_t)dh * tv;
    size_t dbl_count = nh > nv ? nh : nv;
    /* Scratch: doubles | int32 coefficients (h, v) | first/count (h, v) | the transposed
     * source rows | their horizontal result | that result transposed back | accumulator. */
    size_t c = (size_t)channels;
    size_t off_coef = dbl_count * sizeof(double);
    size_t off_ints = off_coef + (nh + nv) * sizeof(int32_t);
    size_t off_a = (off_ints + 2 * ((size_t)dw + dh) * sizeof(int) + 63) & ~(size_t)63;
    size_t img_bytes = need_h ? (size_t)h * (w > dw ? w : dw) * c : 0;
    size_t off_b = (off_a + img_bytes + 63) & ~(size_t)63;
    size_t off_t = (off_b + img_bytes + 63) & ~(size_t)63;
    size_t off_acc = (off_t + img_bytes + 63) & ~(size_t)63;
    size_t longest = (size_t)(w > dw ? w : dw);
    if ((size_t)h > longest) longest = (size_t)h;
    if (dino_bytes_reserve(scratch, off_acc + longest * c * sizeof(int32_t)) != DINO_IMG_OK)
        return DINO_IMG_ERR_MEMORY;
    double *dbl = (double *)scratch->data;
    int32_t *coef_h = (int32_t *)(scratch->data + off_coef), *coef_v = coef_h + nh;
    int *first_h = (int *)(scratch->data + off_ints), *count_h = first_h + dw;
    int *first_v = count_h + dw, *count_v = first_v + dh;
    uint8_t *a = scratch->data + off_a, *b = scratch->data + off_b, *t = scratch->data + off_t;
    int32_t *acc = (int32_t *)(scratch->data + off_acc);

    if (need_v) compute_taps(h, dh, tv, first_v, count_v, coef_v, dbl);
    if (!need_h) {
        pass_vertical(origin, src_stride, w * channels, dst, dh, tv, first_v, count_v, coef_v, 0,
                      acc);
        return DINO_IMG_OK;
    }
    compute_taps(w, dw, th, first_h, count_h, coef_h, dbl);
    /* Only the rows the vertical pass reads (all of them when it is skipped). */
    int row_first = need_v ? first_v[0] : 0;
    int rows = need_v ? first_v[dh - 1] + count_v[dh - 1] - row_first : h;
    /* Horizontal pass: transpose, filter down the columns, transpose back. */
    transpose(origin + (size_t)row_first * src_stride, src_stride, rows, w, channels, a);
    pass_vertical(a, (size_t)rows * c, rows * channels, b, dw, th, first_h, count_h, coef_h, 0,
                  acc);
    uint8_t *horizontal = need_v ? t : dst;
    transpose(b, (size_t)rows * c, dw, rows, channels, horizontal);
    if (need_v)
        pass_vertical(t, (size_t)dw * c, dw * channels, dst, dh, tv, first_v, count_v, coef_v,
                      row_first, acc);
    return DINO_IMG_OK;
}
