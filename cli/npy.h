/* npy.h: NumPy .npy arrays: a writer for integer latents, and images in and out as uint8 or
 * little-endian uint16 arrays of shape (C, H, W) (or (H, W) on input: one channel). */
#ifndef WL_CLI_NPY_H
#define WL_CLI_NPY_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"

#define NPY_WHY 160 /* size of the message buffer npy_decode fills */

/* True when buf starts with the .npy magic "\x93NUMPY". */
int npy_is_npy(const uint8_t *buf, size_t len);
/* Parses a version 1.0 or 2.0 .npy file of dtype '|u1' (depth 8) or '<u2' (depth 16), C order,
 * shape (C, H, W) or (H, W), within the WL_MAX_* limits and with exactly C*H*W samples of
 * data, into img (no alpha). Every header field is checked before anything is allocated. On
 * failure returns -1 with a one-line message in why[NPY_WHY]. */
int npy_decode(const uint8_t *buf, size_t len, wl_image *img, char *why);
/* Serialises img's planes (alpha, when present, as one more plane last, as in RGBA) as uint8
 * (depth 8) or little-endian uint16, shape (C, H, W). Returns 0 or -1 (out of memory). */
int npy_encode_image(const wl_image *img, uint8_t **out, size_t *outlen);
/* Serialises q of the ndim (1..4) sizes in shape as int8 (bits <= 8) or little-endian int16. */
int npy_encode(const int16_t *q, const long *shape, int ndim, int bits, uint8_t **out, size_t *outlen);
/* Serialises b (shape[0], shape[1]) as bool. */
int npy_encode_bool(const uint8_t *b, const long shape[2], uint8_t **out, size_t *outlen);
#endif
