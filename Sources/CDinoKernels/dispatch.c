#include "dino_kernels.h"
