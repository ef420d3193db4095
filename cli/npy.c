/* npy.c: the .npy format: magic "\x93NUMPY", version (1.0: u16 header length; 2.0: u32), a
 * Python dict literal {'descr': ..., 'fortran_order': ..., 'shape': (...)} padded with spaces
 * and a newline (to a multiple of 64 bytes when written), then the raw C-order data. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "cli/npy.h"

int npy_is_npy(const uint8_t *buf, size_t len) { return len >= 6 && !memcmp(buf, "\x93NUMPY", 6); }

/* ---- reading ---------------------------------------------------------------------------- */

#define BIG ((int64_t)1 << 40) /* dimensions saturate here: far over every limit */

typedef struct { const char *p, *end, *err; } cursor;

static void skip_ws(cursor *c) {
  while (c->p < c->end && (*c->p == ' ' || *c->p == '\t' || *c->p == '\n' || *c->p == '\r')) c->p++;
}

/* Consumes the literal s (after white space) when it comes next. */
static int eat(cursor *c, const char *s) {
  size_t n = strlen(s);
  skip_ws(c);
  if ((size_t)(c->end - c->p) < n || memcmp(c->p, s, n)) return 0;
  c->p += n;
  return 1;
}

/* A quoted string without escapes, into out[cap]. */
static int string(cursor *c, char *out, size_t cap) {
  skip_ws(c);
  if (c->p >= c->end || (*c->p != '\'' && *c->p != '"')) return 0;
  const char q = *c->p++;
  size_t n = 0;
  for (; c->p < c->end && *c->p != q; c->p++) {
    if (*c->p == '\\' || (unsigned char)*c->p < 0x20 || (unsigned char)*c->p > 0x7e || n + 1 >= cap) return 0;
    out[n++] = *c->p;
  }
  if (c->p == c->end) return 0;
  c->p++;
  out[n] = 0;
  return 1;
}

/* A tuple of non-negative integers: "()", "(a,)", "(a, b)", "(a, b, c,)"... The first three
 * go to dims[] (saturated at BIG), *ndim counts them all. */
static int tuple(cursor *c, int64_t dims[3], int *ndim) {
  if (!eat(c, "(")) return 0;
  for (*ndim = 0;; ++*ndim) {
    if (eat(c, ")")) return 1; /* "()" or a trailing comma */
    if (c->p == c->end || *c->p < '0' || *c->p > '9') return 0;
    if (*c->p == '0' && c->p + 1 < c->end && c->p[1] >= '0' && c->p[1] <= '9') return 0; /* "07" */
    int64_t v = 0;
    for (; c->p < c->end && *c->p >= '0' && *c->p <= '9'; c->p++) v = v < BIG ? 10 * v + (*c->p - '0') : BIG;
    if (*ndim < 3) dims[*ndim] = v < BIG ? v : BIG;
    if (eat(c, ",")) continue;
    if (!eat(c, ")")) return 0;
    return *ndim > 0 ? (++*ndim, 1) : 0; /* "(5)" is an int, not a tuple */
  }
}

typedef struct {
  char descr[16];
  int fortran, ndim;
  int64_t dims[3];
} npy_dict;

/* Parses the dict literal: exactly the keys descr, fortran_order and shape, in any order. */
static const char *parse_dict(cursor *c, npy_dict *h) {
  int seen[3] = {0};
  if (!eat(c, "{")) return "bad .npy header: not a dict";
  while (!eat(c, "}")) { /* also ends "{..., }" */
    char key[32];
    if (!string(c, key, sizeof key) || !eat(c, ":")) return "bad .npy header: expected 'key': value";
    const int k = !strcmp(key, "descr") ? 0 : !strcmp(key, "fortran_order") ? 1 : !strcmp(key, "shape") ? 2 : -1;
    if (k < 0) return "bad .npy header: a key other than descr, fortran_order, shape";
    if (seen[k]++) return "bad .npy header: a key appears twice";
    if (k == 0 && !string(c, h->descr, sizeof h->descr)) return "bad .npy header: descr is not a simple dtype string";
    if (k == 1 && (h->fortran = eat(c, "True") ? 1 : eat(c, "False") ? 0 : -1) < 0)
      return "bad .npy header: fortran_order is not True or False";
    if (k == 2 && !tuple(c, h->dims, &h->ndim)) return "bad .npy header: shape is not a tuple of integers";
    if (eat(c, "}")) break;
    if (!eat(c, ",")) return "bad .npy header: expected ',' or '}'";
  }
  skip_ws(c);
  if (c->p != c->end) return "bad .npy header: text after the dict";
  if (!seen[0] || !seen[1] || !seen[2]) return "bad .npy header: descr, fortran_order or shape missing";
  return NULL;
}

/* Checks the parsed header against what walloc takes; sets C, H, W and the sample size. */
static int check_header(const npy_dict *h, int64_t s[3], int *bytes, char *why) {
  const char *d = h->descr, *type = d[0] && strchr("|<>=", d[0]) ? d + 1 : d; /* byte order: moot for u1 */
  /* '=u2' and 'u2' are native order: little-endian here */
  const int native_le = __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__ && (!strcmp(d, "=u2") || !strcmp(d, "u2"));
  *bytes = !strcmp(type, "u1") ? 1 : !strcmp(d, "<u2") || native_le ? 2 : 0;
  if (!*bytes && !strcmp(d, ">u2"))
    snprintf(why, NPY_WHY, "big-endian dtype '>u2' (save little-endian: a.astype('<u2'))");
  else if (!*bytes)
    snprintf(why, NPY_WHY, "dtype '%s' is not uint8 '|u1' or little-endian uint16 '<u2'", d);
  else if (h->fortran)
    snprintf(why, NPY_WHY, "Fortran-ordered array (save a C-ordered one: numpy.ascontiguousarray)");
  else if (h->ndim != 2 && h->ndim != 3)
    snprintf(why, NPY_WHY, "array has %d dimension(s); walloc takes (C, H, W) or (H, W)", h->ndim);
  else {
    s[0] = h->ndim == 3 ? h->dims[0] : 1;
    s[1] = h->dims[h->ndim - 2];
    s[2] = h->dims[h->ndim - 1];
    if (!s[0] || !s[1] || !s[2]) snprintf(why, NPY_WHY, "empty array (a dimension is 0)");
    else if (s[0] > WL_MAX_CHANNELS)
      snprintf(why, NPY_WHY, "%lld channels; at most %d%s", (long long)s[0], WL_MAX_CHANNELS,
               s[2] <= WL_MAX_CHANNELS ? " (channels last? walloc takes (C, H, W): a.transpose(2, 0, 1))" : "");
    else if (s[1] > WL_MAX_DIM || s[2] > WL_MAX_DIM) snprintf(why, NPY_WHY, "width or height over 65536");
    else return 0;
  }
  return -1;
}

int npy_header(const uint8_t *buf, size_t len, npy_shape *shape, char *why) {
  if (!npy_is_npy(buf, len)) return snprintf(why, NPY_WHY, "not a .npy file"), -1;
  if (len < 10) return snprintf(why, NPY_WHY, "truncated .npy header"), -1;
  if ((buf[6] != 1 && buf[6] != 2) || buf[7] != 0)
    return snprintf(why, NPY_WHY, ".npy version %d.%d (walloc reads 1.0 and 2.0)", buf[6], buf[7]), -1;
  const size_t off = buf[6] == 1 ? 10 : 12;
  if (len < off) return snprintf(why, NPY_WHY, "truncated .npy header"), -1;
  const size_t hlen = buf[6] == 1 ? (size_t)buf[8] | (size_t)buf[9] << 8
                                  : (size_t)buf[8] | (size_t)buf[9] << 8 | (size_t)buf[10] << 16 | (size_t)buf[11] << 24;
  if (hlen > len - off) return snprintf(why, NPY_WHY, "truncated .npy header"), -1;
  cursor c = {(const char *)buf + off, (const char *)buf + off + hlen, NULL};
  npy_dict h = {{0}, 0, 0, {0}};
  const char *bad = parse_dict(&c, &h);
  if (bad) return snprintf(why, NPY_WHY, "%s", bad), -1;
  int64_t s[3];
  if (check_header(&h, s, &shape->bytes, why)) return -1;
  shape->C = (int)s[0], shape->H = (int)s[1], shape->W = (int)s[2];
  shape->data = off + hlen;
  return 0;
}

/* The data's size against the shape's: 0, or -1 with why. */
static int data_size(const npy_shape *s, uint64_t data, char *why) {
  const uint64_t need = (uint64_t)s->C * s->H * s->W * s->bytes;
  if (data == need) return 0;
  snprintf(why, NPY_WHY, "%s data: %llu bytes where shape and dtype need %llu", data < need ? "truncated" : "over-long",
           (unsigned long long)data, (unsigned long long)need);
  return -1;
}

/* n samples of `bytes` bytes (little-endian) as floats. */
static void samples(const uint8_t *d, size_t n, int bytes, float *out) {
  for (size_t i = 0; i < n; i++) out[i] = bytes == 1 ? d[i] : (float)(d[2 * i] | d[2 * i + 1] << 8);
}

int npy_decode(const uint8_t *buf, size_t len, wl_image *img, char *why) {
  npy_shape s;
  memset(img, 0, sizeof *img);
  if (npy_header(buf, len, &s, why)) return -1;
  if ((long)s.H * s.W > WL_MAX_PIXELS)
    return snprintf(why, NPY_WHY, "%dx%d is over 64 Mpixel, the most held whole (a plain encode of a file reads it by rows)",
                    s.W, s.H), -1;
  if (data_size(&s, len - s.data, why)) return -1;
  if (wl_image_alloc(img, s.C, s.H, s.W, 8 * s.bytes, 0)) return snprintf(why, NPY_WHY, "out of memory"), -1;
  samples(buf + s.data, (size_t)s.C * s.H * s.W, s.bytes, img->planes);
  return 0;
}

int npy_rows_open(npy_rows *r, io_input *in, const npy_shape *s, char *why) {
  r->in = in, r->s = *s, r->next = 0, r->buf = NULL;
  if (in->size >= 0 && data_size(&r->s, (uint64_t)in->size - r->s.data, why)) return -1;
  if (in->size < 0 && r->s.C > 1) return snprintf(why, NPY_WHY, "channels are read by rows from a file, not a pipe"), -1;
  if (!(r->buf = malloc((size_t)r->s.W * r->s.bytes))) return snprintf(why, NPY_WHY, "out of memory"), -1;
  if (in->size < 0) { /* a pipe: the header is skipped */
    uint8_t skip[IO_HEAD];
    if (io_read_full(in, skip, r->s.data, -1) != (long)r->s.data) return snprintf(why, NPY_WHY, "cannot read"), -1;
  }
  return 0;
}

int npy_rows_read(npy_rows *r, int y0, int n, float *planes, char *why) {
  const size_t W = (size_t)r->s.W, row = W * (size_t)r->s.bytes;
  if (r->in->size < 0 && y0 != r->next) return snprintf(why, NPY_WHY, "rows of a pipe are read in order"), -1;
  for (int c = 0; c < r->s.C; c++)
    for (int i = 0; i < n; i++) {
      const int64_t at = r->in->size < 0 ? -1 : (int64_t)r->s.data + (((int64_t)c * r->s.H + y0 + i) * (int64_t)W) * r->s.bytes;
      const long got = io_read_full(r->in, r->buf, row, at);
      if (got < 0) return snprintf(why, NPY_WHY, "cannot read: %s", strerror(errno)), -1;
      if ((size_t)got < row) return snprintf(why, NPY_WHY, "truncated data"), -1;
      samples(r->buf, W, r->s.bytes, planes + ((size_t)c * n + i) * W);
    }
  r->next = y0 + n;
  return 0;
}

int npy_rows_end(npy_rows *r, char *why) {
  uint8_t extra;
  if (r->in->size < 0 && io_read_full(r->in, &extra, 1, -1) != 0)
    return snprintf(why, NPY_WHY, "over-long data: bytes after the samples the shape gives"), -1;
  return 0;
}

void npy_rows_free(npy_rows *r) {
  free(r->buf);
  r->buf = NULL;
}

/* ---- writing ---------------------------------------------------------------------------- */

size_t npy_head(uint8_t *o, const char *descr, const long *shape, int ndim) {
  char dict[192], dims[96] = "";
  for (int i = 0; i < ndim; i++)
    snprintf(dims + strlen(dims), sizeof dims - strlen(dims), "%ld,%s", shape[i], i + 1 < ndim ? " " : "");
  if (ndim > 1) dims[strlen(dims) - 1] = 0; /* (n,) for one dimension, (a, b) for more */
  const int n = snprintf(dict, sizeof dict, "{'descr': '%s', 'fortran_order': False, 'shape': (%s), }", descr, dims);
  const size_t hlen = ((10 + (size_t)n + 1 + 63) / 64) * 64 - 10; /* dict + padding + '\n' */
  memcpy(o, "\x93NUMPY\x01\x00", 8);
  o[8] = (uint8_t)hlen;
  o[9] = (uint8_t)(hlen >> 8);
  memset(o + 10, ' ', hlen);
  memcpy(o + 10, dict, (size_t)n);
  o[10 + hlen - 1] = '\n';
  return 10 + hlen;
}

/* Allocates a version 1.0 file with the header for descr and shape (ndim 1 .. 4 sizes) and room
 * for `data` bytes after it; *start is where the data goes. */
static uint8_t *npy_start(const char *descr, const long *shape, int ndim, size_t data, uint8_t **start,
                          size_t *total) {
  uint8_t head[NPY_HEAD_MAX];
  const size_t n = npy_head(head, descr, shape, ndim);
  uint8_t *o = malloc(n + data);
  if (!o) return NULL;
  memcpy(o, head, n);
  *start = o + n;
  *total = n + data;
  return o;
}

/* Stores sample i of 1 or 2 little-endian bytes. */
static inline void put(uint8_t *d, size_t i, int bytes, unsigned v) {
  d[i * bytes] = (uint8_t)v;
  if (bytes == 2) d[i * 2 + 1] = (uint8_t)(v >> 8);
}

void npy_put_samples(uint8_t *d, const float *x, size_t n, int bytes) {
  for (size_t i = 0; i < n; i++) put(d, i, bytes, (unsigned)x[i]);
}

size_t npy_image_head(uint8_t *head, int planes, int height, int width, int depth) {
  const long shape[3] = {planes, height, width};
  return npy_head(head, depth == 8 ? "|u1" : "<u2", shape, 3);
}

int npy_encode(const int16_t *q, const long *shape, int ndim, int bits, uint8_t **out, size_t *outlen) {
  const int bytes = bits <= 8 ? 1 : 2;
  size_t count = 1;
  for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
  uint8_t *d;
  if (!(*out = npy_start(bytes == 1 ? "|i1" : "<i2", shape, ndim, count * bytes, &d, outlen))) return -1;
  for (size_t i = 0; i < count; i++) put(d, i, bytes, (uint16_t)q[i]);
  return 0;
}

int npy_encode_bool(const uint8_t *b, const long *shape, int ndim, uint8_t **out, size_t *outlen) {
  size_t count = 1;
  for (int i = 0; i < ndim; i++) count *= (size_t)shape[i];
  uint8_t *d;
  if (!(*out = npy_start("|b1", shape, ndim, count, &d, outlen))) return -1;
  for (size_t i = 0; i < count; i++) d[i] = b[i] != 0;
  return 0;
}

int npy_encode_image(const wl_image *img, uint8_t **out, size_t *outlen) {
  const int bytes = img->depth / 8;
  const long shape[3] = {img->channels + (img->alpha != NULL), img->height, img->width};
  const size_t plane = (size_t)img->height * img->width, colour = (size_t)img->channels * plane;
  uint8_t *d;
  if (!(*out = npy_start(bytes == 1 ? "|u1" : "<u2", shape, 3, (colour + (img->alpha ? plane : 0)) * bytes, &d, outlen)))
    return -1;
  npy_put_samples(d, img->planes, colour, bytes);
  if (img->alpha) npy_put_samples(d + colour * bytes, img->alpha, plane, bytes);
  return 0;
}
