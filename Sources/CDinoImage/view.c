/* view.c — one multi-crop view, in DINO's order of operations (docs/DINO.md §1.2):
 * RandomResizedCrop → flip → colour jitter → grayscale → blur → solarize → normalise.
 *
 * A single-channel working image stands for an RGB image whose channels are equal: every
 * later operation keeps the channels equal and acts on each the same way (saturation and
 * hue are identities there, as in Pillow for mode L), so grayscale sources and views that
 * went through RandomGrayscale are processed as one channel and replicated at the end.
 */
#include "dino_image.h"

#include <string.h>

static void jitter(uint8_t *img, int size, int *channels, const dino_view_params *p) {
    size_t pixels = (size_t)size * (size_t)size;
    for (int i = 0; i < 4; i++) {
        switch (p->jitter_order[i]) {
        case DINO_JITTER_BRIGHTNESS:
            dino_adjust_brightness(img, pixels * (size_t)*channels, p->brightness);
            break;
        case DINO_JITTER_CONTRAST:
            dino_adjust_contrast(img, size, size, *channels, p->contrast);
            break;
        case DINO_JITTER_SATURATION:
            if (*channels == 3) dino_adjust_saturation(img, pixels, p->saturation);
            break;
        case DINO_JITTER_HUE:
            if (*channels == 3) dino_adjust_hue(img, pixels, p->hue);
            break;
        default: break;
        }
    }
}

int dino_render_view(const dino_image *src, const dino_view_params *p, int out_channels,
                     const float *mean, const float *std, float *out, uint8_t *preview,
                     dino_workspace *ws) {
    int c = src->channels;
    if ((c != 1 && c != 3) || (out_channels != 1 && out_channels != 3) ||
        (c == 3 && out_channels == 1) || p->size <= 0 || p->crop_w <= 0 || p->crop_h <= 0 ||
        p->crop_x < 0 || p->crop_y < 0 || p->crop_x + p->crop_w > src->width ||
        p->crop_y + p->crop_h > src->height)
        return DINO_IMG_ERR_ARG;
    for (int i = 0; i < 4; i++)
        if (p->jitter_order[i] < DINO_JITTER_NONE || p->jitter_order[i] > DINO_JITTER_HUE)
            return DINO_IMG_ERR_ARG;
    int size = p->size;
    size_t pixels = (size_t)size * (size_t)size;
    if (dino_bytes_reserve(&ws->view, pixels * 3) != DINO_IMG_OK) return DINO_IMG_ERR_MEMORY;
    uint8_t *img = ws->view.data;
    int rc = dino_resize_bicubic(src->pixels.data, (size_t)src->width * c, p->crop_x, p->crop_y,
                                 p->crop_w, p->crop_h, c, img, size, size, &ws->scratch);
    if (rc != DINO_IMG_OK) return rc;
    if (p->flip) dino_flip_horizontal(img, size, size, c);
    if (p->jitter) jitter(img, size, &c, p);
    if (p->grayscale && c == 3) {
        dino_rgb_to_luma(img, img, pixels);
        c = 1;
    }
    if (p->blur) {
        rc = dino_gaussian_blur(img, size, size, c, p->sigma, &ws->scratch);
        if (rc != DINO_IMG_OK) return rc;
    }
    if (p->solarize) dino_solarize(img, pixels * (size_t)c, 128);
    if (preview) {
        if (c == out_channels)
            memcpy(preview, img, pixels * (size_t)c);
        else
            for (size_t i = 0; i < pixels; i++)
                preview[3 * i] = preview[3 * i + 1] = preview[3 * i + 2] = img[i];
    }
    return dino_normalize(img, size, size, c, out_channels, mean, std, out);
}

int dino_render_eval(const dino_image *src, int resize_w, int resize_h, int crop_x, int crop_y,
                     int size, int out_channels, const float *mean, const float *std, float *out,
                     dino_workspace *ws) {
    int c = src->channels;
    if ((c != 1 && c != 3) || (out_channels != 1 && out_channels != 3) ||
        (c == 3 && out_channels == 1) || resize_w <= 0 || resize_h <= 0 || size <= 0 ||
        crop_x < 0 || crop_y < 0 || crop_x + size > resize_w || crop_y + size > resize_h)
        return DINO_IMG_ERR_ARG;
    size_t row = (size_t)resize_w * (size_t)c;
    size_t crop_row = (size_t)size * (size_t)c;
    if (dino_bytes_reserve(&ws->view, row * (size_t)resize_h + crop_row * (size_t)size) !=
        DINO_IMG_OK)
        return DINO_IMG_ERR_MEMORY;
    uint8_t *resized = ws->view.data;
    uint8_t *crop = resized + row * (size_t)resize_h;
    int rc = dino_resize_bicubic(src->pixels.data, (size_t)src->width * c, 0, 0, src->width,
                                 src->height, c, resized, resize_w, resize_h, &ws->scratch);
    if (rc != DINO_IMG_OK) return rc;
    for (int y = 0; y < size; y++)
        memcpy(crop + (size_t)y * crop_row,
               resized + (size_t)(crop_y + y) * row + (size_t)crop_x * c, crop_row);
    return dino_normalize(crop, size, size, c, out_channels, mean, std, out);
}
