// datasets/StbImage.cpp: stb_image (the header from Debian's libstb-dev) compiled into Ember, with
// -fwrapv. stb_image 2.27 does signed int arithmetic on values a corrupt file controls: a JPEG's
// DC prediction, summed over thousands of blocks, overflows int (fuzz finding 12, docs/security.md).
// With -fwrapv that wraps, giving garbage pixels for a corrupt file instead of undefined
// behaviour. These definitions take the place of libstb's stbi_* functions for Ember
// (libstb still provides stb_image_write).
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
