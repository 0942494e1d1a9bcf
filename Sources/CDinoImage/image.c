#include "dino_image.h"
