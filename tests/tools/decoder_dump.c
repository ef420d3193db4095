/* decoder_dump.c: runs the C decoder network alone, for tests/test_reference_neural.py.
 *   decoder_dump MODEL.wlm|BUILTIN LATENTS.npy OUT.npy
 * reads integer latents q (k, h, w) (int16 '<i2' or int8 '|i1', C order, k <= K), builds the
 * decoder input y (K, h*w) as wl_synthesise does (tabulated inverse companding for the k sent
 * channels, the model's fill values for the rest), runs wl_decoder_forward and writes the
 * wavelet packets X (D, h, w) as float32 '<f4'. Exit status 1 with a message on any error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/decoder.h"

#define MAX_NPY (1u << 28)

static int fail(const char *what, const char *why) {
  fprintf(stderr, "decoder_dump: %s: %s\n", what, why);
  return 1;
}

/* Reads the whole of `path` into a malloc'd buffer; NULL on error or when over MAX_NPY bytes. */
static uint8_t *read_file(const char *path, size_t *len) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  uint8_t *buf = NULL;
  long n = fseek(f, 0, SEEK_END) ? -1 : ftell(f);
  if (n >= 0 && n <= (long)MAX_NPY && !fseek(f, 0, SEEK_SET) && (buf = malloc((size_t)n + 1)))
    if (fread(buf, 1, (size_t)n, f) != (size_t)n) { free(buf); buf = NULL; }
  fclose(f);
  *len = (size_t)n;
  return buf;
}

/* Strict .npy (version 1.0 or 2.0) reader for a 3-D C-order int16/int8 array: q (shape[0..2]),
 * malloc'd. Returns an error message or NULL. */
static const char *npy_read(const uint8_t *b, size_t len, int shape[3], int16_t **q) {
  if (len < 12 || memcmp(b, "\x93NUMPY", 6) || (b[6] != 1 && b[6] != 2) || b[7]) return "not a .npy file";
  const size_t pre = b[6] == 1 ? 10 : 12;
  const size_t hlen = b[6] == 1 ? wl_get16(b + 8) : wl_get32(b + 8);
  if (len < pre + hlen || !hlen || b[pre + hlen - 1] != '\n') return "truncated .npy header";
  char dict[256];
  if (hlen >= sizeof dict) return ".npy header too long";
  memcpy(dict, b + pre, hlen);
  dict[hlen] = 0;
  const char *d = strstr(dict, "'descr':"), *fo = strstr(dict, "'fortran_order':"), *s = strstr(dict, "'shape':");
  if (!d || !fo || !s) return ".npy header lacks descr, fortran_order or shape";
  int bytes = !strncmp(d, "'descr': '<i2'", 14) ? 2 : !strncmp(d, "'descr': '|i1'", 14) ? 1 : 0;
  if (!bytes) return "latents must be int16 ('<i2') or int8 ('|i1')";
  if (strncmp(fo, "'fortran_order': False", 22)) return "latents must be in C order";
  char close;
  if (sscanf(s, "'shape': (%d, %d, %d%c", &shape[0], &shape[1], &shape[2], &close) != 4 || close != ')')
    return "latents must have shape (k, h, w)";
  if (shape[0] < 1 || shape[1] < 1 || shape[2] < 1 || shape[1] > 4096 || shape[2] > 4096) return "bad latent shape";
  const size_t n = (size_t)shape[0] * shape[1] * shape[2];
  if (len - pre - hlen != n * bytes) return ".npy data size does not match its shape";
  if (!(*q = malloc(sizeof(int16_t) * n))) return "out of memory";
  const uint8_t *p = b + pre + hlen;
  for (size_t i = 0; i < n; i++) (*q)[i] = bytes == 2 ? (int16_t)wl_get16(p + 2 * i) : (int8_t)p[i];
  return NULL;
}

/* Writes X (shape[0], shape[1], shape[2]) as a version 1.0 float32 .npy. */
static int npy_write_f32(const char *path, const float *X, const int shape[3]) {
  char dict[128];
  int n = snprintf(dict, sizeof dict, "{'descr': '<f4', 'fortran_order': False, 'shape': (%d, %d, %d), }",
                   shape[0], shape[1], shape[2]);
  const size_t hlen = (10 + (size_t)n + 1 + 63) / 64 * 64 - 10, count = (size_t)shape[0] * shape[1] * shape[2];
  uint8_t pre[10 + 128];
  memcpy(pre, "\x93NUMPY\x01\x00", 8);
  wl_put16(pre + 8, (uint32_t)hlen);
  memset(pre + 10, ' ', hlen);
  memcpy(pre + 10, dict, (size_t)n);
  pre[10 + hlen - 1] = '\n';
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  int ok = fwrite(pre, 1, 10 + hlen, f) == 10 + hlen && fwrite(X, sizeof(float), count, f) == count; /* LE host */
  return fclose(f) || !ok ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: decoder_dump MODEL.wlm|BUILTIN LATENTS.npy OUT.npy\n");
    return 1;
  }
  wl_model *m = NULL;
  size_t len;
  uint8_t *buf;
  int e = wl_model_builtin(&m, argv[1]);
  if (e == WL_ERR_UNKNOWN_MODEL) {
    if (!(buf = read_file(argv[1], &len))) return fail(argv[1], "cannot read");
    e = wl_model_load(&m, buf, len);
    free(buf);
  }
  if (e) return fail(argv[1], wl_strerror(e));
  int shape[3], rc = 0;
  int16_t *q = NULL;
  const char *why = (buf = read_file(argv[2], &len)) ? npy_read(buf, len, shape, &q) : "cannot read";
  free(buf);
  const int K = m->d.K, half = 1 << (m->d.bits - 1);
  const long P = why ? 0 : (long)shape[1] * shape[2];
  if (!why && shape[0] > K) why = "more latent channels than the model's K";
  for (long i = 0; !why && i < shape[0] * P; i++)
    if (q[i] < -half || q[i] >= half) why = "latent out of the model's bits range";
  float *y = why ? NULL : malloc(sizeof(float) * (size_t)K * P), *X = why ? NULL : malloc(sizeof(float) * (size_t)m->D * P);
  float *work = why ? NULL : malloc(sizeof(float) * (wl_decoder_work_floats(m, shape[1], shape[2]) + 1));
  if (!why && (!y || !X || !work)) why = "out of memory";
  if (why) rc = fail(argv[2], why);
  if (!rc) {
    for (long i = 0; i < K * P; i++) y[i] = i < shape[0] * P ? m->dequant[q[i] + half] : m->fill[i / P];
    const int f = m->d.J - wl_decoder_levels(m); /* a fine stage outputs the packets one level finer */
    const int oshape[3] = {m->D >> 2 * f, shape[1] << f, shape[2] << f};
    if ((e = wl_decoder_forward(m, y, shape[1], shape[2], X, work))) rc = fail("wl_decoder_forward", wl_strerror(e));
    else if (npy_write_f32(argv[3], X, oshape)) rc = fail(argv[3], "cannot write");
  }
  free(q); free(y); free(X); free(work);
  wl_model_free(m);
  return rc;
}
