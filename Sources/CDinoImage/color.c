/* color.c — flip, colour jitter, grayscale, solarize and normalisation on uint8 images,
 * with Pillow's arithmetic (ImageEnhance blends in float, truncated, clipped to 8 bits;
 * HSV conversions as in Pillow's Convert.c; luma in 16-bit fixed point). */
#pragma STDC FP_CONTRACT OFF
#include "dino_image.h"

#include <math.h>
#include <string.h>

void dino_flip_horizontal(uint8_t *img, int w, int h, int channels) {
    for (int y = 0; y < h; y++) {
        uint8_t *row = img + (size_t)y * w * channels;
        for (int a = 0, b = w - 1; a < b; a++, b--) {
            for (int c = 0; c < channels; c++) {
                uint8_t t = row[a * channels + c];
                row[a * channels + c] = row[b * channels + c];
                row[b * channels + c] = t;
            }
        }
    }
}

/* Pillow's Image.blend(degenerate, image, alpha) for one value. */
static inline uint8_t blend(int degenerate, int value, float alpha) {
    float t = (float)degenerate + alpha * (float)(value - degenerate);
    if (t <= 0.0f) return 0;
    if (t >= 255.0f) return 255;
    return (uint8_t)t;
}

void dino_adjust_brightness(uint8_t *img, size_t count, float factor) {
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) lut[v] = blend(0, v, factor);
    for (size_t i = 0; i < count; i++) img[i] = lut[img[i]];
}

static inline uint8_t luma(const uint8_t *p) {
    return (uint8_t)(((uint32_t)p[0] * 19595u + (uint32_t)p[1] * 38470u + (uint32_t)p[2] * 7471u +
                      0x8000u) >>
                     16);
}

void dino_rgb_to_luma(const uint8_t *src, uint8_t *dst, size_t pixels) {
    for (size_t i = 0; i < pixels; i++) dst[i] = luma(src + 3 * i);
}

void dino_adjust_contrast(uint8_t *img, int w, int h, int channels, float factor) {
    size_t pixels = (size_t)w * (size_t)h;
    uint64_t sum = 0;
    if (channels == 1)
        for (size_t i = 0; i < pixels; i++) sum += img[i];
    else
        for (size_t i = 0; i < pixels; i++) sum += luma(img + 3 * i);
    double mean = (double)sum / (double)pixels;
    int grey = (int)(mean + 0.5);
    uint8_t lut[256];
    for (int v = 0; v < 256; v++) lut[v] = blend(grey, v, factor);
    size_t count = pixels * (size_t)channels;
    for (size_t i = 0; i < count; i++) img[i] = lut[img[i]];
}

void dino_adjust_saturation(uint8_t *img, size_t pixels, float factor) {
    for (size_t i = 0; i < pixels; i++) {
        uint8_t *p = img + 3 * i;
        int l = luma(p);
        p[0] = blend(l, p[0], factor);
        p[1] = blend(l, p[1], factor);
        p[2] = blend(l, p[2], factor);
    }
}

int dino_hue_shift(float hue) {
    int t = (int)((double)hue * 255.0); /* truncation toward zero */
    return ((t % 256) + 256) % 256;
}

static inline int clip8i(int v) { return v < 0 ? 0 : v > 255 ? 255 : v; }

/* round() for x >= 0, inline and exact: floor, plus one if the exact remainder is >= 0.5. */
static inline int round_nonneg(double x) {
    double r = floor(x);
    return (int)r + (x - r >= 0.5);
}

/* Pillow rgb2hsv for one pixel (H, S, V each 0..255). Pillow's fmod(h/6 + 1, 1) is written
 * as x - floor(x), which is exact for the positive x here. */
static inline void to_hsv(const uint8_t *p, uint8_t *hsv) {
    int r = p[0], g = p[1], b = p[2];
    int maxc = r > g ? (r > b ? r : b) : (g > b ? g : b);
    int minc = r < g ? (r < b ? r : b) : (g < b ? g : b);
    hsv[2] = (uint8_t)maxc;
    if (maxc == minc) {
        hsv[0] = 0;
        hsv[1] = 0;
        return;
    }
    float span = (float)(maxc - minc);
    float s = span / (float)maxc;
    float h;
    if (r == maxc)
        h = (float)(maxc - b) / span - (float)(maxc - g) / span;
    else if (g == maxc)
        h = 2.0 + (float)(maxc - r) / span - (float)(maxc - b) / span;
    else
        h = 4.0 + (float)(maxc - g) / span - (float)(maxc - r) / span;
    double x = h / 6.0 + 1.0;
    h = x - floor(x);
    hsv[0] = (uint8_t)clip8i((int)(h * 255.0));
    hsv[1] = (uint8_t)clip8i((int)(s * 255.0));
}

/* Pillow hsv2rgb for one pixel. */
static inline void from_hsv(const uint8_t *hsv, uint8_t *p) {
    int h = hsv[0], s = hsv[1], v = hsv[2];
    if (s == 0) {
        p[0] = p[1] = p[2] = (uint8_t)v;
        return;
    }
    int i = (int)floor((float)h * 6.0 / 255.0);
    float f = (float)h * 6.0 / 255.0 - (float)i;
    float fs = (float)s / 255.0;
    uint8_t up = (uint8_t)clip8i(round_nonneg((float)v * (1.0 - fs)));
    uint8_t uq = (uint8_t)clip8i(round_nonneg((float)v * (1.0 - fs * f)));
    uint8_t ut = (uint8_t)clip8i(round_nonneg((float)v * (1.0 - fs * (1.0 - f))));
    uint8_t uv = (uint8_t)v;
    switch (i % 6) {
    case 0:
        p[0] = uv;
        p[1] = ut;
        p[2] = up;
        break;
    case 1:
        p[0] = uq;
        p[1] = uv;
        p[2] = up;
        break;
    case 2:
        p[0] = up;
        p[1] = uv;
        p[2] = ut;
        break;
    case 3:
        p[0] = up;
        p[1] = uq;
        p[2] = uv;
        break;
    case 4:
        p[0] = ut;
        p[1] = up;
        p[2] = uv;
        break;
    default:
        p[0] = uv;
        p[1] = up;
        p[2] = uq;
        break;
    }
}

/* The hue rotation in blocks of pixels, branch-free so that the compiler can vectorise it;
 * every expression keeps the types (float or double) of Pillow's per-pixel code above, so
 * the results are identical (to_hsv/from_hsv remain the readable reference and are used
 * for the tail of the image). */
#define HUE_BLOCK 64

static void hue_block(uint8_t *px, int shift) {
    int r[HUE_BLOCK], g[HUE_BLOCK], b[HUE_BLOCK], mx[HUE_BLOCK], grey[HUE_BLOCK];
    int uh[HUE_BLOCK], us[HUE_BLOCK];
    for (int k = 0; k < HUE_BLOCK; k++) {
        r[k] = px[3 * k];
        g[k] = px[3 * k + 1];
        b[k] = px[3 * k + 2];
    }
    for (int k = 0; k < HUE_BLOCK; k++) {
        int maxc = r[k] > g[k] ? (r[k] > b[k] ? r[k] : b[k]) : (g[k] > b[k] ? g[k] : b[k]);
        int minc = r[k] < g[k] ? (r[k] < b[k] ? r[k] : b[k]) : (g[k] < b[k] ? g[k] : b[k]);
        int same = maxc == minc;
        float span = same ? 1.0f : (float)(maxc - minc);
        float s = span / (float)(maxc ? maxc : 1);
        float rc = (float)(maxc - r[k]) / span;
        float gc = (float)(maxc - g[k]) / span;
        float bc = (float)(maxc - b[k]) / span;
        float hr = bc - gc;
        float hg = 2.0 + rc - bc;
        float hb = 4.0 + gc - rc;
        float h = r[k] == maxc ? hr : (g[k] == maxc ? hg : hb);
        double x = h / 6.0 + 1.0;
        h = x - floor(x);
        int ih = (int)(h * 255.0), is = (int)(s * 255.0);
        ih = ih < 0 ? 0 : ih > 255 ? 255 : ih;
        is = is < 0 ? 0 : is > 255 ? 255 : is;
        uh[k] = same ? 0 : ((ih + shift) & 255);
        us[k] = same ? 0 : is;
        mx[k] = maxc;
        grey[k] = same;
    }
    for (int k = 0; k < HUE_BLOCK; k++) {
        int v = mx[k];
        double h6 = (float)uh[k] * 6.0 / 255.0;
        int i = (int)floor(h6);
        float f = h6 - (float)i;
        float fs = (float)us[k] / 255.0;
        double xp = (float)v * (1.0 - fs);
        double xq = (float)v * (1.0 - fs * f);
        double xt = (float)v * (1.0 - fs * (1.0 - f));
        double fp = floor(xp), fq = floor(xq), ft = floor(xt);
        int p = (int)fp + (xp - fp >= 0.5), q = (int)fq + (xq - fq >= 0.5),
            t = (int)ft + (xt - ft >= 0.5);
        p = p > 255 ? 255 : p;
        q = q > 255 ? 255 : q;
        t = t > 255 ? 255 : t;
        int sector = i % 6;
        int ro = sector == 0 || sector == 5 ? v : sector == 1 ? q : sector == 4 ? t : p;
        int go = sector == 1 || sector == 2 ? v : sector == 0 ? t : sector == 3 ? q : p;
        int bo = sector == 3 || sector == 4 ? v : sector == 2 ? t : sector == 5 ? q : p;
        int s0 = us[k] == 0;
        r[k] = s0 ? v : ro;
        g[k] = s0 ? v : go;
        b[k] = s0 ? v : bo;
        (void)grey;
    }
    for (int k = 0; k < HUE_BLOCK; k++) {
        px[3 * k] = (uint8_t)r[k];
        px[3 * k + 1] = (uint8_t)g[k];
        px[3 * k + 2] = (uint8_t)b[k];
    }
}

void dino_adjust_hue(uint8_t *img, size_t pixels, float hue) {
    int shift = dino_hue_shift(hue);
    size_t i = 0;
    for (; i + HUE_BLOCK <= pixels; i += HUE_BLOCK) hue_block(img + 3 * i, shift);
    for (; i < pixels; i++) {
        uint8_t *p = img + 3 * i;
        uint8_t hsv[3];
        to_hsv(p, hsv);
        hsv[0] = (uint8_t)(hsv[0] + shift);
        from_hsv(hsv, p);
    }
}

void dino_solarize(uint8_t *img, size_t count, int threshold) {
    for (size_t i = 0; i < count; i++)
        if (img[i] >= threshold) img[i] = (uint8_t)(255 - img[i]);
}

int dino_normalize(const uint8_t *img, int w, int h, int channels, int out_channels,
                   const float *mean, const float *std, float *out) {
    if (!(channels == out_channels || (channels == 1 && out_channels == 3)))
        return DINO_IMG_ERR_ARG;
    size_t plane = (size_t)w * (size_t)h;
    for (int c = 0; c < out_channels; c++) {
        float lut[256];
        for (int v = 0; v < 256; v++) lut[v] = ((float)v / 255.0f - mean[c]) / std[c];
        const uint8_t *in = img + (channels == 1 ? 0 : c);
        float *o = out + (size_t)c * plane;
        if (channels == 1)
            for (size_t i = 0; i < plane; i++) o[i] = lut[in[i]];
        else
            for (size_t i = 0; i < plane; i++) o[i] = lut[in[3 * i]];
    }
    return DINO_IMG_OK;
}
