/* png.h: PNG <-> wl_image in memory (so stdin/stdout work): libdeflate, libpng for unusual files. */
#ifndef WL_CLI_PNG_H
#define WL_CLI_PNG_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"

/* True when buf starts with the PNG signature. */
int png_is_png(const uint8_t *buf, size_t len);
/* Decodes a PNG: gray/RGB planes, 8 or 16 bits (1/2/4-bit and palette expand to 8), alpha
 * (or tRNS) into img->alpha. On failure returns -1 and points *why at a static message. */
int png_decode(const uint8_t *buf, size_t len, wl_image *img, const char **why);
/* Encodes img as PNG into a malloc'd buffer. Returns 0 or -1. */
int png_encode(const wl_image *img, uint8_t **out, size_t *outlen);
#endif
