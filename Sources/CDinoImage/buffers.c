/* buffers.c — growable byte buffers and file reading. */
#include "dino_image.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
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

static const char *file_kind(mode_t mode) {
    switch (mode & S_IFMT) {
    case S_IFIFO: return "FIFO";
    case S_IFSOCK: return "socket";
    case S_IFCHR: return "character device";
    case S_IFBLK: return "block device";
    case S_IFDIR: return "folder";
    default: return "special file";
    }
}

int dino_read_file(const char *path, dino_bytes *buf, char *err, size_t errlen) {
    struct stat info;
    if (stat(path, &info) != 0) {
        if (err) snprintf(err, errlen, "cannot open (%s)", strerror(errno));
        return DINO_IMG_ERR_IO;
    }
    if (!S_ISREG(info.st_mode)) {
        if (err) snprintf(err, errlen, "not a regular file (%s)", file_kind(info.st_mode));
        return DINO_IMG_ERR_IO;
    }
    /* O_NONBLOCK: a FIFO swapped in after the stat must not block the open. */
    int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) {
        if (err) snprintf(err, errlen, "cannot open (%s)", strerror(errno));
        return DINO_IMG_ERR_IO;
    }
    if (fstat(fd, &info) != 0 || !S_ISREG(info.st_mode)) {
        close(fd);
        if (err) snprintf(err, errlen, "not a regular file (%s)", file_kind(info.st_mode));
        return DINO_IMG_ERR_IO;
    }
    size_t size = (size_t)info.st_size;
    if (size > DINO_IMG_MAX_FILE_BYTES) {
        close(fd);
        if (err)
            snprintf(err, errlen, "file of %zu bytes is above the 1 GiB limit for images", size);
        return DINO_IMG_ERR_SIZE;
    }
    if (dino_bytes_reserve(buf, size ? size : 1) != DINO_IMG_OK) {
        close(fd);
        if (err) snprintf(err, errlen, "out of memory");
        return DINO_IMG_ERR_MEMORY;
    }
    size_t done = 0;
    while (done < size) {
        ssize_t n = read(fd, buf->data + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            if (err) snprintf(err, errlen, "read error (%s)", strerror(errno));
            close(fd);
            return DINO_IMG_ERR_IO;
        }
        if (n == 0) break; /* a file that shrank is decoded as far as it goes */
        done += (size_t)n;
    }
    close(fd);
    buf->size = done;
    return DINO_IMG_OK;
}
