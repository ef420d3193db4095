/* npy.h: NumPy .npy (format 1.0) writer for integer latents. */
#ifndef WL_CLI_NPY_H
#define WL_CLI_NPY_H
#include <stddef.h>
#include <stdint.h>

/* Serialises q (shape[0], shape[1], shape[2]) as int8 (bits <= 8) or little-endian int16. */
int npy_encode(const int16_t *q, const int shape[3], int bits, uint8_t **out, size_t *outlen);
#endif
