/* dino_image.h — JPEG/PNG decoding and pixel-level augmentation (DinoData's C half). */
#ifndef DINO_IMAGE_H
#define DINO_IMAGE_H
#include <stdint.h>
#endif
