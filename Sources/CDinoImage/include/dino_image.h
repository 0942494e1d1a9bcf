/* dino_image.h — JPEG/PNG decoding and the pixel operations of DINO's multi-crop
 * augmentation (DinoData's C half).
 *
 * Images are uint8, height×width×channels (HWC), rows packed, channels 1 (L) or 3 (RGB).
 * Every operation reproduces the arithmetic of the Pillow function torchvision applies
 * (see docs/DINO.md §1.3), including its 8-bit rounding, so that crops match a
 * PIL-based pipeline pixel for pixel. Functions never abort: failures return a
 * DINO_IMG_* code and, where an `err` buffer is given, one line of text.
 */
#ifndef DINO_IMAGE_H
#define DINO_IMAGE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ---- result codes ---- */
enum {
    DINO_IMG_OK = 0,
    DINO_IMG_ERR_IO = 1, /* cannot open or read the file */
    DINO_IMG_ERR_FORMAT = 2, /* neither a JPEG nor a PNG */
    DINO_IMG_ERR_CORRUPT = 3, /* decoder reported corrupt data */
    DINO_IMG_ERR_TRUNCATED = 4, /* data ends early */
    DINO_IMG_ERR_MEMORY = 5, /* allocation failed */
    DINO_IMG_ERR_SIZE = 6, /* empty, wider than DINO_IMG_MAX_SIDE or above the budget */
    DINO_IMG_ERR_ARG = 7 /* invalid argument */
};

/* Largest accepted width or height. */
#define DINO_IMG_MAX_SIDE 32768

/* The default pixel budget: the most pixels (width × height) a decoder accepts, checked
 * from the header before any pixel memory is allocated: 64 Mi pixels (8192 × 8192). */
#define DINO_IMG_DEFAULT_MAX_PIXELS ((size_t)64 * 1024 * 1024)

/* The largest image file read (1 GiB): larger files are refused before reading. */
#define DINO_IMG_MAX_FILE_BYTES ((size_t)1 << 30)

/* Sets the pixel budget for every later decode in the process (0 restores the default). */
void dino_set_max_pixels(size_t pixels);
/* The pixel budget in force. */
size_t dino_max_pixels(void);

/* A growable byte buffer, owned by the caller (reused across calls to avoid allocation). */
typedef struct dino_bytes {
    uint8_t *data;
    size_t size;
    size_t capacity;
} dino_bytes;

/* Makes room for `size` bytes (keeps contents up to the old size); 0 or DINO_IMG_ERR_MEMORY. */
int dino_bytes_reserve(dino_bytes *b, size_t size);
/* Frees the buffer and zeroes the struct. */
void dino_bytes_free(dino_bytes *b);

/* An 8-bit image; `pixels` is a reusable buffer the decoder grows as needed. */
typedef struct dino_image {
    int width;
    int height;
    int channels; /* 1 or 3 */
    dino_bytes pixels;
} dino_image;

/* Frees the pixel buffer. */
void dino_image_free(dino_image *img);

/* ---- files and decoding ---- */

/* Reads a whole regular file into `buf` (size set). Anything else — a FIFO, a socket, a
 * device, also behind a symbolic link — is refused (DINO_IMG_ERR_IO, "not a regular file
 * (FIFO)") without blocking; at most the size fstat reports is read, and files above
 * DINO_IMG_MAX_FILE_BYTES are refused (DINO_IMG_ERR_SIZE). */
int dino_read_file(const char *path, dino_bytes *buf, char *err, size_t errlen);

/* Decodes JPEG (libjpeg-turbo) or PNG (libpng), chosen by the leading bytes, into `out`.
 * Native channels: grayscale images give 1 channel, colour ones 3 (alpha dropped, palette
 * expanded, 16-bit reduced to the high byte, CMYK converted as Pillow does).
 * want_channels: 0 keeps native, 1 converts RGB to luma (ITU-R 601-2, Pillow "L"),
 * 3 keeps grayscale as 1 channel too (the renderer replicates it; equivalent for every op).
 * A JPEG that ends early is an error (DINO_IMG_ERR_TRUNCATED), as in Pillow. */
int dino_decode(const uint8_t *bytes, size_t size, int want_channels, dino_image *out, char *err,
                size_t errlen);

/* Writes an 8-bit PNG (channels 1 or 3). */
int dino_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels,
                   char *err, size_t errlen);

/* Writes a baseline JPEG (channels 1 or 3) at `quality` 1..100 (libjpeg's scale). */
int dino_write_jpeg(const char *path, const uint8_t *pixels, int width, int height, int channels,
                    int quality, char *err, size_t errlen);

/* ---- pixel operations (uint8 HWC) ---- */

/* Pillow Image.resize(BICUBIC) of the w×h region at (x, y) of `src` (row stride in bytes)
 * to dw×dh: separable a = -0.5 cubic, support widened by the scale when downscaling,
 * fixed-point coefficients (22 bits), horizontal pass first, each pass rounded to 8 bits.
 * `scratch` holds the intermediate image and the coefficients. */
int dino_resize_bicubic(const uint8_t *src, size_t src_stride, int x, int y, int w, int h,
                        int channels, uint8_t *dst, int dw, int dh, dino_bytes *scratch);

/* Mirrors each row. */
void dino_flip_horizontal(uint8_t *img, int w, int h, int channels);

/* Pillow ImageEnhance.Brightness: blend with black, out = f·v (truncated, clipped). */
void dino_adjust_brightness(uint8_t *img, size_t count, float factor);

/* Pillow ImageEnhance.Contrast: blend with the grey level int(mean(L) + 0.5). */
void dino_adjust_contrast(uint8_t *img, int w, int h, int channels, float factor);

/* Pillow ImageEnhance.Color (saturation): blend with the image's own L; RGB only. */
void dino_adjust_saturation(uint8_t *img, size_t pixels, float factor);

/* torchvision adjust_hue on PIL: RGB→HSV (Pillow), H += shift mod 256, HSV→RGB (Pillow).
 * shift = ((trunc(hue·255) mod 256) + 256) mod 256; see dino_hue_shift. RGB only. */
void dino_adjust_hue(uint8_t *img, size_t pixels, float hue);

/* The 8-bit hue shift used by dino_adjust_hue for a factor in [-0.5, 0.5]. */
int dino_hue_shift(float hue);

/* Pillow RGB→L: (19595 R + 38470 G + 7471 B + 0x8000) >> 16. `dst` may equal `src`. */
void dino_rgb_to_luma(const uint8_t *src, uint8_t *dst, size_t pixels);

/* Pillow ImageFilter.GaussianBlur(radius = sigma): three box passes per direction with the
 * extended (fractional) box radius of dino_box_radius, edges replicated, 24-bit fixed point. */
int dino_gaussian_blur(uint8_t *img, int w, int h, int channels, float sigma, dino_bytes *scratch);

/* The fractional box radius Pillow uses for a Gaussian of std `sigma` over `passes` passes. */
float dino_box_radius(float sigma, int passes);

/* Pillow ImageOps.solarize: v >= threshold becomes 255 - v. */
void dino_solarize(uint8_t *img, size_t count, int threshold);

/* ToTensor + Normalize: out[c][y][x] = (v/255 - mean[c]) / std[c] in float32, CHW.
 * A 1-channel image is replicated when out_channels is 3; out_channels must equal
 * channels otherwise. */
int dino_normalize(const uint8_t *img, int w, int h, int channels, int out_channels,
                   const float *mean, const float *std, float *out);

/* ---- one multi-crop view ---- */

/* Colour-jitter operation ids (torchvision's order of definition); NONE pads the order when
 * an operation has strength 0 and is left out. */
enum {
    DINO_JITTER_NONE = -1,
    DINO_JITTER_BRIGHTNESS = 0,
    DINO_JITTER_CONTRAST = 1,
    DINO_JITTER_SATURATION = 2,
    DINO_JITTER_HUE = 3
};

/* Everything one view needs, drawn beforehand (by DinoData's MultiCropAugmenter). */
typedef struct dino_view_params {
    int crop_x, crop_y, crop_w, crop_h; /* RandomResizedCrop box in source pixels */
    int size; /* output is size×size */
    int flip; /* mirror horizontally */
    int jitter; /* apply colour jitter */
    int jitter_order[4]; /* application order, DINO_JITTER_* */
    float brightness, contrast, saturation, hue;
    int grayscale; /* RandomGrayscale fired */
    int blur; /* GaussianBlur fired */
    float sigma;
    int solarize; /* Solarization fired */
} dino_view_params;

/* Per-thread reusable memory for dino_render_view. */
typedef struct dino_workspace {
    dino_bytes view; /* the size×size uint8 working image */
    dino_bytes scratch; /* resize/blur temporaries */
} dino_workspace;

/* Frees the workspace buffers. */
void dino_workspace_free(dino_workspace *ws);

/* Renders one view of `src`: crop+resize, flip, jitter (colour ops skipped on 1 channel,
 * where they are identities or undefined), grayscale, blur, solarize, then normalisation
 * into `out` (out_channels×size×size float32). If `preview` is non-null it receives the
 * final uint8 view, size×size×out_channels, before normalisation. */
int dino_render_view(const dino_image *src, const dino_view_params *p, int out_channels,
                     const float *mean, const float *std, float *out, uint8_t *preview,
                     dino_workspace *ws);

/* The evaluation transform: resize the whole image to resize_w×resize_h (Pillow bicubic),
 * take the size×size box at (crop_x, crop_y) of the result, normalise into `out`. */
int dino_render_eval(const dino_image *src, int resize_w, int resize_h, int crop_x, int crop_y,
                     int size, int out_channels, const float *mean, const float *std, float *out,
                     dino_workspace *ws);

#ifdef __cplusplus
}
#endif
#endif
