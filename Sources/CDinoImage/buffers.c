/* buffers.c — growable byte buffers and file reading. */
#include "dino_image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int dino_bytes_reserve(dino_bytes *b, size_t size) {
    if (size <= b->capacity) return DINO_IMG_OK;
    size_t cap = b->capacity ? b->capacity : 4096;
    while (cap < size) cap *= 2;
    uint8_t *p = realloc(b->data, cap);
    if (!p) return DINO_IMG_ERR_MEMORY;
    b->data = p;
    b->capacity = cap;
    return DINO_IMG_OK;
}

void dino_bytes_free(dino_bytes *b) {
    free(b->data);
    b->data = NULL;
    b->size = 0;
    b->capacity = 0;
}

void dino_image_free(dino_image *img) {
    dino_bytes_free(&img->pixels);
    img->width = img->height = img->channels = 0;
}

void dino_workspace_free(dino_workspace *ws) {
    dino_bytes_free(&ws->view);
    dino_bytes_free(&ws->scratch);
}

int dino_read_file(const char *path, dino_bytes *buf, char *err, size_t errlen) {
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (err) snprintf(err, errlen, "cannot open (%s)", strerror(errno));
        return DINO_IMG_ERR_IO;
    }
    buf->size = 0;
    for (;;) {
        if (dino_bytes_reserve(buf, buf->size + 65536) != DINO_IMG_OK) {
            fclose(f);
            if (err) snprintf(err, errlen, "out of memory");
            return DINO_IMG_ERR_MEMORY;
        }
        size_t n = fread(buf->data + buf->size, 1, buf->capacity - buf->size, f);
        buf->size += n;
        if (n == 0) break;
    }
    int failed = ferror(f);
    fclose(f);
    if (failed) {
        if (err) snprintf(err, errlen, "read error");
        return DINO_IMG_ERR_IO;
    }
    return DINO_IMG_OK;
}
