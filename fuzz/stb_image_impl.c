/* fuzz/stb_image_impl.c: stb_image compiled with the sanitizers for fuzz_image (see CMakeLists.txt). */
#define STB_IMAGE_IMPLEMENTATION
#include <stb_image.h>
