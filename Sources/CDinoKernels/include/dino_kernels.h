/* dino_kernels.h — the kernel library's public interface. */
#ifndef DINO_KERNELS_H
#define DINO_KERNELS_H
#include "../../CDinoOps/include/dino_ops.h"
#endif
