/* npy.c: writes the .npy format (magic "\x93NUMPY", version 1.0, u16 header length, a Python
 * dict literal padded with spaces and a newline to a multiple of 64 bytes, raw C-order data). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/npy.h"

int npy_encode(const int16_t *q, const int shape[3], int bits, uint8_t **out, size_t *outlen) {
  char dict[128];
  const int bytes = bits <= 8 ? 1 : 2;
  int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%d, %d, %d), }",
                   bytes == 1 ? "|i1" : "<i2", shape[0], shape[1], shape[2]);
  const size_t hlen = ((10 + (size_t)n + 1 + 63) / 64) * 64 - 10; /* dict + padding + '\n' */
  const size_t count = (size_t)shape[0] * shape[1] * shape[2];
  uint8_t *o = malloc(10 + hlen + count * bytes);
  if (!o) return -1;
  memcpy(o, "\x93NUMPY\x01\x00", 8);
  o[8] = (uint8_t)hlen;
  o[9] = (uint8_t)(hlen >> 8);
  memset(o + 10, ' ', hlen);
  memcpy(o + 10, dict, (size_t)n);
  o[10 + hlen - 1] = '\n';
  uint8_t *d = o + 10 + hlen;
  for (size_t i = 0; i < count; i++) {
    d[i * bytes] = (uint8_t)q[i];
    if (bytes == 2) d[i * 2 + 1] = (uint8_t)((uint16_t)q[i] >> 8);
  }
  *out = o;
  *outlen = 10 + hlen + count * bytes;
  return 0;
}
