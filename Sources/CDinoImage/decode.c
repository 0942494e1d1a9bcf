/* decode.c — JPEG (libjpeg-turbo) and PNG (libpng) decoding into 8-bit HWC images.
 *
 * Output matches what torchvision's loader sees after Pillow's Image.open(...).convert("RGB"),
 * except that grayscale images stay single-channel (replicating them is the renderer's job).
 */
#include "dino_image.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jerror.h>
#include <jpeglib.h>
#include <png.h>

static int fail(char *err, size_t errlen, int code, const char *msg) {
    if (err && errlen) snprintf(err, errlen, "%s", msg);
    return code;
}

static _Atomic size_t max_pixels = DINO_IMG_DEFAULT_MAX_PIXELS;

void dino_set_max_pixels(size_t pixels) {
    max_pixels = pixels ? pixels : DINO_IMG_DEFAULT_MAX_PIXELS;
}

size_t dino_max_pixels(void) { return max_pixels; }

/* Checks the header's size against the side limit and the pixel budget, before any pixel
 * memory is allocated. */
static int check_size(long w, long h, char *err, size_t errlen) {
    if (w <= 0 || h <= 0 || w > DINO_IMG_MAX_SIDE || h > DINO_IMG_MAX_SIDE) {
        if (err && errlen) snprintf(err, errlen, "unsupported image size %ldx%ld", w, h);
        return DINO_IMG_ERR_SIZE;
    }
    size_t budget = max_pixels;
    if ((size_t)w * (size_t)h > budget) {
        if (err && errlen)
            snprintf(err, errlen, "%ldx%ld is %zu pixels, above the budget of %zu (--max-pixels)",
                     w, h, (size_t)w * (size_t)h, budget);
        return DINO_IMG_ERR_SIZE;
    }
    return DINO_IMG_OK;
}

/* ---------------------------------------------------------------- JPEG */

struct jpeg_failure {
    struct jpeg_error_mgr mgr;
    jmp_buf jump;
    int code;
    char message[JMSG_LENGTH_MAX];
};

static void jpeg_on_error(j_common_ptr cinfo) {
    struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
    char text[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, text);
    snprintf(f->message, sizeof f->message, "corrupt JPEG data: %s", text);
    f->code = DINO_IMG_ERR_CORRUPT;
    longjmp(f->jump, 1);
}

/* Warnings are ignored except a premature end of data, which Pillow refuses too. */
static void jpeg_on_message(j_common_ptr cinfo, int level) {
    if (level >= 0) return;
    struct jpeg_failure *f = (struct jpeg_failure *)cinfo->err;
    if (cinfo->err->msg_code == JWRN_JPEG_EOF) {
        snprintf(f->message, sizeof f->message, "truncated JPEG data");
        f->code = DINO_IMG_ERR_TRUNCATED;
        longjmp(f->jump, 1);
    }
    cinfo->err->num_warnings++;
}

/* Pillow's CMYK→RGB: nk = 255 - k, channel = nk - nk·c/255 (rounded as MULDIV255). */
static uint8_t cmyk_channel(int c, int k) {
    int nk = 255 - k;
    int t = c * nk + 128;
    int m = ((t >> 8) + t) >> 8;
    int v = nk - m;
    return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

static int decode_jpeg(const uint8_t *bytes, size_t size, dino_image *out, char *err,
                       size_t errlen) {
    struct jpeg_decompress_struct cinfo;
    struct jpeg_failure failure;
    uint8_t *volatile line = NULL;
    memset(&failure, 0, sizeof failure);
    cinfo.err = jpeg_std_error(&failure.mgr);
    failure.mgr.error_exit = jpeg_on_error;
    failure.mgr.emit_message = jpeg_on_message;
    if (setjmp(failure.jump)) {
        jpeg_destroy_decompress(&cinfo);
        free(line);
        return fail(err, errlen, failure.code, failure.message);
    }
    jpeg_create_decompress(&cinfo);
    jpeg_mem_src(&cinfo, bytes, (unsigned long)size);
    jpeg_read_header(&cinfo, TRUE);

    int cmyk = 0;
    int channels = 3;
    if (cinfo.jpeg_color_space == JCS_GRAYSCALE) {
        cinfo.out_color_space = JCS_GRAYSCALE;
        channels = 1;
    } else if (cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK) {
        cinfo.out_color_space = JCS_CMYK;
        cmyk = 1;
    } else {
        cinfo.out_color_space = JCS_RGB;
    }
    int rc = check_size((long)cinfo.image_width, (long)cinfo.image_height, err, errlen);
    if (rc != DINO_IMG_OK) {
        jpeg_destroy_decompress(&cinfo);
        return rc;
    }
    jpeg_start_decompress(&cinfo);
    int w = (int)cinfo.output_width, h = (int)cinfo.output_height;
    size_t row = (size_t)w * (size_t)channels;
    if (dino_bytes_reserve(&out->pixels, row * (size_t)h) != DINO_IMG_OK) {
        jpeg_destroy_decompress(&cinfo);
        return fail(err, errlen, DINO_IMG_ERR_MEMORY, "out of memory");
    }
    if (cmyk) {
        line = malloc((size_t)w * 4);
        if (!line) {
            jpeg_destroy_decompress(&cinfo);
            return fail(err, errlen, DINO_IMG_ERR_MEMORY, "out of memory");
        }
    }
    /* Adobe CMYK JPEGs store inverted values (Pillow's "CMYK;I" raw mode). */
    int inverted = cmyk && cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < cinfo.output_height) {
        uint8_t *dst = out->pixels.data + row * cinfo.output_scanline;
        if (!cmyk) {
            JSAMPROW rows[1] = {dst};
            jpeg_read_scanlines(&cinfo, rows, 1);
            continue;
        }
        JSAMPROW rows[1] = {line};
        jpeg_read_scanlines(&cinfo, rows, 1);
        for (int x = 0; x < w; x++) {
            int c[4];
            for (int i = 0; i < 4; i++) c[i] = inverted ? 255 - line[4 * x + i] : line[4 * x + i];
            for (int i = 0; i < 3; i++) dst[3 * x + i] = cmyk_channel(c[i], c[3]);
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(line);
    out->width = w;
    out->height = h;
    out->channels = channels;
    out->pixels.size = row * (size_t)h;
    return DINO_IMG_OK;
}

/* ---------------------------------------------------------------- PNG */

struct png_source {
    const uint8_t *data;
    size_t size, offset;
    char message[160];
    int code;
};

static void png_on_read(png_structp png, png_bytep dst, size_t n) {
    struct png_source *s = png_get_io_ptr(png);
    if (n > s->size - s->offset) {
        s->code = DINO_IMG_ERR_TRUNCATED;
        png_error(png, "truncated PNG data");
    }
    memcpy(dst, s->data + s->offset, n);
    s->offset += n;
}

static void png_on_error(png_structp png, png_const_charp msg) {
    struct png_source *s = png_get_error_ptr(png);
    if (s->code == DINO_IMG_OK) s->code = DINO_IMG_ERR_CORRUPT;
    if (s->code == DINO_IMG_ERR_TRUNCATED)
        snprintf(s->message, sizeof s->message, "truncated PNG data");
    else
        snprintf(s->message, sizeof s->message, "corrupt PNG data: %s", msg);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp msg) {
    (void)png;
    (void)msg;
}

static int decode_png(const uint8_t *bytes, size_t size, dino_image *out, char *err,
                      size_t errlen) {
    struct png_source src = {bytes, size, 0, {0}, DINO_IMG_OK};
    png_structp png =
        png_create_read_struct(PNG_LIBPNG_VER_STRING, &src, png_on_error, png_on_warning);
    if (!png) return fail(err, errlen, DINO_IMG_ERR_MEMORY, "out of memory");
    png_infop info = png_create_info_struct(png);
    png_bytep *volatile rows = NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        return fail(err, errlen, DINO_IMG_ERR_MEMORY, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        free(rows);
        return fail(err, errlen, src.code, src.message);
    }
    png_set_read_fn(png, &src, png_on_read);
    png_read_info(png, info);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int rc = check_size((long)w, (long)h, err, errlen);
    if (rc != DINO_IMG_OK) {
        png_destroy_read_struct(&png, &info, NULL);
        return rc;
    }
    int color = png_get_color_type(png, info);
    int depth = png_get_bit_depth(png, info);
    /* Transparency (a tRNS chunk, as in palette PNGs) becomes an alpha channel that is then
     * dropped, as Pillow's convert("RGB") does: the colours are the palette's. */
    int transparent = png_get_valid(png, info, PNG_INFO_tRNS) != 0;
    if (color == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (transparent) png_set_tRNS_to_alpha(png);
    if (depth == 16) png_set_strip_16(png);
    if ((color & PNG_COLOR_MASK_ALPHA) || transparent) png_set_strip_alpha(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    int channels = (int)png_get_channels(png, info);
    if (channels != 1 && channels != 3) {
        png_destroy_read_struct(&png, &info, NULL);
        return fail(err, errlen, DINO_IMG_ERR_CORRUPT, "unsupported PNG channel layout");
    }
    size_t row = (size_t)w * (size_t)channels;
    if (dino_bytes_reserve(&out->pixels, row * h) != DINO_IMG_OK ||
        !(rows = malloc(sizeof(png_bytep) * h))) {
        png_destroy_read_struct(&png, &info, NULL);
        return fail(err, errlen, DINO_IMG_ERR_MEMORY, "out of memory");
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = out->pixels.data + row * y;
    png_read_image(png, rows);
    png_read_end(png, NULL);
    png_destroy_read_struct(&png, &info, NULL);
    free(rows);
    out->width = (int)w;
    out->height = (int)h;
    out->channels = channels;
    out->pixels.size = row * h;
    return DINO_IMG_OK;
}

/* ---------------------------------------------------------------- entry point */

int dino_decode(const uint8_t *bytes, size_t size, int want_channels, dino_image *out, char *err,
                size_t errlen) {
    static const uint8_t png_magic[8] = {0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'};
    if (want_channels != 0 && want_channels != 1 && want_channels != 3)
        return fail(err, errlen, DINO_IMG_ERR_ARG, "channels must be 0, 1 or 3");
    int rc;
    if (size >= 3 && bytes[0] == 0xFF && bytes[1] == 0xD8 && bytes[2] == 0xFF)
        rc = decode_jpeg(bytes, size, out, err, errlen);
    else if (size >= 8 && memcmp(bytes, png_magic, 8) == 0)
        rc = decode_png(bytes, size, out, err, errlen);
    else
        return fail(err, errlen, DINO_IMG_ERR_FORMAT, "not a JPEG or PNG image");
    if (rc != DINO_IMG_OK) return rc;
    if (want_channels == 1 && out->channels == 3) {
        size_t n = (size_t)out->width * (size_t)out->height;
        dino_rgb_to_luma(out->pixels.data, out->pixels.data, n);
        out->channels = 1;
        out->pixels.size = n;
    }
    return DINO_IMG_OK;
}

/* ---------------------------------------------------------------- PNG writing */

int dino_write_png(const char *path, const uint8_t *pixels, int width, int height, int channels,
                   char *err, size_t errlen) {
    if ((channels != 1 && channels != 3) || check_size(width, height, NULL, 0) != DINO_IMG_OK)
        return fail(err, errlen, DINO_IMG_ERR_ARG, "invalid image for PNG writing");
    FILE *f = fopen(path, "wb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "cannot create %s", path);
        return DINO_IMG_ERR_IO;
    }
    struct png_source state = {NULL, 0, 0, {0}, DINO_IMG_OK};
    png_structp png =
        png_create_write_struct(PNG_LIBPNG_VER_STRING, &state, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return fail(err, errlen, DINO_IMG_ERR_MEMORY, "out of memory");
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_write_struct(&png, &info);
        fclose(f);
        return fail(err, errlen, DINO_IMG_ERR_IO, "cannot write PNG");
    }
    png_init_io(png, f);
    png_set_IHDR(png, info, (png_uint_32)width, (png_uint_32)height, 8,
                 channels == 1 ? PNG_COLOR_TYPE_GRAY : PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < height; y++)
        png_write_row(png, (png_const_bytep)(pixels + (size_t)y * (size_t)width * channels));
    png_write_end(png, info);
    png_destroy_write_struct(&png, &info);
    if (fclose(f) != 0) return fail(err, errlen, DINO_IMG_ERR_IO, "cannot write PNG");
    return DINO_IMG_OK;
}

/* ---------------------------------------------------------------- JPEG writing */

int dino_write_jpeg(const char *path, const uint8_t *pixels, int width, int height, int channels,
                    int quality, char *err, size_t errlen) {
    if ((channels != 1 && channels != 3) || quality < 1 || quality > 100 ||
        check_size(width, height, NULL, 0) != DINO_IMG_OK)
        return fail(err, errlen, DINO_IMG_ERR_ARG, "invalid image for JPEG writing");
    FILE *volatile f = fopen(path, "wb");
    if (!f) {
        if (err && errlen) snprintf(err, errlen, "cannot create %s", path);
        return DINO_IMG_ERR_IO;
    }
    struct jpeg_compress_struct cinfo;
    struct jpeg_failure failure;
    memset(&failure, 0, sizeof failure);
    cinfo.err = jpeg_std_error(&failure.mgr);
    failure.mgr.error_exit = jpeg_on_error;
    if (setjmp(failure.jump)) {
        jpeg_destroy_compress(&cinfo);
        fclose(f);
        return fail(err, errlen, DINO_IMG_ERR_IO, "cannot write JPEG");
    }
    jpeg_create_compress(&cinfo);
    jpeg_stdio_dest(&cinfo, f);
    cinfo.image_width = (JDIMENSION)width;
    cinfo.image_height = (JDIMENSION)height;
    cinfo.input_components = channels;
    cinfo.in_color_space = channels == 1 ? JCS_GRAYSCALE : JCS_RGB;
    jpeg_set_defaults(&cinfo);
    jpeg_set_quality(&cinfo, quality, TRUE);
    jpeg_start_compress(&cinfo, TRUE);
    while (cinfo.next_scanline < cinfo.image_height) {
        JSAMPROW row = (JSAMPROW)(pixels + (size_t)cinfo.next_scanline * width * channels);
        jpeg_write_scanlines(&cinfo, &row, 1);
    }
    jpeg_finish_compress(&cinfo);
    jpeg_destroy_compress(&cinfo);
    if (fclose(f) != 0) return fail(err, errlen, DINO_IMG_ERR_IO, "cannot write JPEG");
    return DINO_IMG_OK;
}
