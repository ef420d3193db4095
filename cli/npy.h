/* npy.h: NumPy .npy arrays: a writer for integer latents, and images in and out as uint8 or
 * little-endian uint16 arrays of shape (C, H, W) (or (H, W) on input: one channel). */
#ifndef WL_CLI_NPY_H
#define WL_CLI_NPY_H
#include <stddef.h>
#include <stdint.h>
#include "walloc.h"
#include "cli/io.h"

#define NPY_WHY 160 /* size of the message buffer npy_decode fills */

/* True when buf starts with the .npy magic "\x93NUMPY". */
int npy_is_npy(const uint8_t *buf, size_t len);
/* Parses a version 1.0 or 2.0 .npy file of dtype '|u1' (depth 8) or '<u2' (depth 16), C order,
 * shape (C, H, W) or (H, W), within the WL_MAX_* limits and with exactly C*H*W samples of
 * data, into img (no alpha). Every header field is checked before anything is allocated. On
 * failure returns -1 with a one-line message in why[NPY_WHY]. */
int npy_decode(const uint8_t *buf, size_t len, wl_image *img, char *why);
/* The header of a .npy in buf (at least the magic, version and dict): its shape and samples'
 * bytes, and where the data start. 0, or -1 with why (no limit on the pixels). */
typedef struct {
  int C, H, W, bytes;
  size_t data;
} npy_shape;
int npy_header(const uint8_t *buf, size_t len, npy_shape *s, char *why);
/* A .npy read a block of rows at a time from an input whose header lies in its first bytes
 * (in->head) and is s (npy_header): from a regular file (data size checked at open, each channel's rows read at their
 * place), or from a pipe, one channel only, in order (extra bytes found by npy_rows_end). Each
 * returns 0, or -1 with a one-line message in why[NPY_WHY]. */
typedef struct {
  io_input *in;
  npy_shape s;
  int next;
  uint8_t *buf;
} npy_rows;
int npy_rows_open(npy_rows *r, io_input *in, const npy_shape *s, char *why);
int npy_rows_read(npy_rows *r, int y0, int n, float *planes, char *why);
int npy_rows_end(npy_rows *r, char *why);
void npy_rows_free(npy_rows *r);
/* A version 1.0 header for descr and shape (ndim 1 .. 4 sizes) into head[NPY_HEAD_MAX]: its
 * length (a multiple of 64); npy_image_head: that of an image's (planes, height, width) as
 * uint8 (depth 8) or little-endian uint16; npy_put_samples: n samples as such. */
#define NPY_HEAD_MAX 256
size_t npy_head(uint8_t *head, const char *descr, const long *shape, int ndim);
size_t npy_image_head(uint8_t *head, int planes, int height, int width, int depth);
void npy_put_samples(uint8_t *d, const float *x, size_t n, int bytes);
/* Serialises img's planes (alpha, when present, as one more plane last, as in RGBA) as uint8
 * (depth 8) or little-endian uint16, shape (C, H, W). Returns 0 or -1 (out of memory). */
int npy_encode_image(const wl_image *img, uint8_t **out, size_t *outlen);
/* Serialises q of the ndim (1..4) sizes in shape as int8 (bits <= 8) or little-endian int16. */
int npy_encode(const int16_t *q, const long *shape, int ndim, int bits, uint8_t **out, size_t *outlen);
/* Serialises b of the ndim (1..4) sizes in shape as bool. */
int npy_encode_bool(const uint8_t *b, const long *shape, int ndim, uint8_t **out, size_t *outlen);
#endif
