/* resample.c — Pillow-exact bicubic resize (Image.resize with Resampling.BICUBIC).
 *
 * The arithmetic follows Pillow's separable resampler: a cubic convolution kernel with
 * a = -0.5 and support 2, widened by the scale factor when downscaling (antialiasing);
 * per output pixel the taps are normalised to sum 1 in double precision, then turned
 * into 22-bit fixed point; each 1-D pass accumulates integers with a rounding offset and
 * clamps to 8 bits. The horizontal pass runs first, over only the rows the vertical pass
 * reads; a pass whose size does not change is skipped.
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

static void compute_taps(int in_size, int out_size, int taps, int *first, int *count,
                         int32_t *coef, double *dbl) {
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
            coef[(size_t)i * taps + t] =
                v < 0 ? (int32_t)(-0.5 + v * (1 << COEF_BITS)) : (int32_t)(0.5 + v * (1 << COEF_BITS));
        }
        first[i] = lo;
        count[i] = n;
    }
}

static inline uint8_t clamp8(int32_t acc) {
    int32_t v = acc >> COEF_BITS; /* arithmetic shift: floor */
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* One horizontal pass over `rows` rows. */
static void pass_horizontal(const uint8_t *src, size_t src_stride, int rows, int channels,
                            uint8_t *dst, int dw, int taps, const int *first, const int *count,
                            const int32_t *coef) {
    for (int y = 0; y < rows; y++) {
        const uint8_t *in = src + (size_t)y * src_stride;
        uint8_t *out = dst + (size_t)y * dw * channels;
        for (int x = 0; x < dw; x++) {
            const int32_t *k = coef + (size_t)x * taps;
            const uint8_t *p = in + (size_t)first[x] * channels;
            int n = count[x];
            if (channels == 1) {
                int32_t a = 1 << (COEF_BITS - 1);
                for (int t = 0; t < n; t++) a += p[t] * k[t];
                out[x] = clamp8(a);
            } else {
                int32_t a0 = 1 << (COEF_BITS - 1), a1 = a0, a2 = a0;
                for (int t = 0; t < n; t++) {
                    a0 += p[3 * t] * k[t];
                    a1 += p[3 * t + 1] * k[t];
                    a2 += p[3 * t + 2] * k[t];
                }
                out[3 * x] = clamp8(a0);
                out[3 * x + 1] = clamp8(a1);
                out[3 * x + 2] = clamp8(a2);
            }
        }
    }
}

/* One vertical pass: row y of dst mixes rows first[y].. of src (offset by `shift`),
 * accumulated row-wise in `acc` (row_bytes int32) so the inner loop is contiguous. */
static void pass_vertical(const uint8_t *src, size_t src_stride, int row_bytes, uint8_t *dst,
                          int dh, int taps, const int *first, const int *count,
                          const int32_t *coef, int shift, int32_t *acc) {
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
    /* Layout: doubles | int32 coefficients (h, v) | ints first/count (h, v) | temp image. */
    size_t off_coef = dbl_count * sizeof(double);
    size_t off_ints = off_coef + (nh + nv) * sizeof(int32_t);
    size_t off_img = off_ints + 2 * ((size_t)dw + dh) * sizeof(int);
    off_img = (off_img + 63) & ~(size_t)63;
    size_t temp_bytes = need_h && need_v ? (size_t)dw * channels * h : 0;
    size_t off_acc = (off_img + temp_bytes + 63) & ~(size_t)63;
    size_t acc_bytes = (size_t)(w > dw ? w : dw) * channels * sizeof(int32_t);
    if (dino_bytes_reserve(scratch, off_acc + acc_bytes) != DINO_IMG_OK)
        return DINO_IMG_ERR_MEMORY;
    double *dbl = (double *)scratch->data;
    int32_t *coef_h = (int32_t *)(scratch->data + off_coef), *coef_v = coef_h + nh;
    int *first_h = (int *)(scratch->data + off_ints), *count_h = first_h + dw;
    int *first_v = count_h + dw, *count_v = first_v + dh;
    uint8_t *temp = scratch->data + off_img;
    int32_t *acc = (int32_t *)(scratch->data + off_acc);

    if (need_v) compute_taps(h, dh, tv, first_v, count_v, coef_v, dbl);
    if (need_h) compute_taps(w, dw, th, first_h, count_h, coef_h, dbl);
    if (!need_v) {
        pass_horizontal(origin, src_stride, h, channels, dst, dw, th, first_h, count_h, coef_h);
        return DINO_IMG_OK;
    }
    if (!need_h) {
        pass_vertical(origin, src_stride, w * channels, dst, dh, tv, first_v, count_v, coef_v, 0,
                      acc);
        return DINO_IMG_OK;
    }
    int row_first = first_v[0];
    int row_last = first_v[dh - 1] + count_v[dh - 1];
    pass_horizontal(origin + (size_t)row_first * src_stride, src_stride, row_last - row_first,
                    channels, temp, dw, th, first_h, count_h, coef_h);
    pass_vertical(temp, (size_t)dw * channels, dw * channels, dst, dh, tv, first_v, count_v,
                  coef_v, row_first, acc);
    return DINO_IMG_OK;
}
