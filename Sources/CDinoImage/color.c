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
                      0x8000u) >> 16);
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

/* Pillow rgb2hsv for one pixel (H, S, V each 0..255). */
static void to_hsv(const uint8_t *p, uint8_t *hsv) {
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
    float rc = (float)(maxc - r) / span;
    float gc = (float)(maxc - g) / span;
    float bc = (float)(maxc - b) / span;
    float h;
    if (r == maxc)
        h = bc - gc;
    else if (g == maxc)
        h = 2.0 + rc - bc;
    else
        h = 4.0 + gc - rc;
    h = fmod(h / 6.0 + 1.0, 1.0);
    hsv[0] = (uint8_t)clip8i((int)(h * 255.0));
    hsv[1] = (uint8_t)clip8i((int)(s * 255.0));
}

/* Pillow hsv2rgb for one pixel. */
static void from_hsv(const uint8_t *hsv, uint8_t *p) {
    int h = hsv[0], s = hsv[1], v = hsv[2];
    if (s == 0) {
        p[0] = p[1] = p[2] = (uint8_t)v;
        return;
    }
    int i = (int)floor((float)h * 6.0 / 255.0);
    float f = (float)h * 6.0 / 255.0 - (float)i;
    float fs = (float)s / 255.0;
    uint8_t up = (uint8_t)clip8i((int)round((float)v * (1.0 - fs)));
    uint8_t uq = (uint8_t)clip8i((int)round((float)v * (1.0 - fs * f)));
    uint8_t ut = (uint8_t)clip8i((int)round((float)v * (1.0 - fs * (1.0 - f))));
    uint8_t uv = (uint8_t)v;
    switch (i % 6) {
    case 0: p[0] = uv; p[1] = ut; p[2] = up; break;
    case 1: p[0] = uq; p[1] = uv; p[2] = up; break;
    case 2: p[0] = up; p[1] = uv; p[2] = ut; break;
    case 3: p[0] = up; p[1] = uq; p[2] = uv; break;
    case 4: p[0] = ut; p[1] = up; p[2] = uv; break;
    default: p[0] = uv; p[1] = up; p[2] = uq; break;
    }
}

void dino_adjust_hue(uint8_t *img, size_t pixels, float hue) {
    int shift = dino_hue_shift(hue);
    for (size_t i = 0; i < pixels; i++) {
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
