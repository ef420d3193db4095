/* decode.c: wl_decode, a .wlc into an image: the container, the latents' streams, synthesis
 * (synthesis.c) and the alpha plane. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/detail.h"
#include "codec/stripes.h"

/* Reads an image's header, checks it belongs to `m`, and decodes the keep latent planes into *q. */
int wl_image_latents(const wl_model *m, const uint8_t *buf, size_t len, wl_header *h, int16_t **q) {
  *q = NULL;
  WL_TRY(wl_header_read(buf, len, h));
  if (h->modality != WL_MODALITY_IMAGE) return WL_FAIL(WL_ERR_MISMATCH);
  WL_TRY(wl_header_check_model(m, h));
  int16_t *lat = wl_malloc_big(sizeof(int16_t) * (size_t)h->keep * h->lat_h * h->lat_w);
  if (!lat) return WL_FAIL(WL_ERR_NOMEM);
  int e = wl_decode_streams(m, h, buf + h->header_len + h->alpha_len, lat);
  if (e) free(lat); else *q = lat;
  return e;
}

/* The detail layer's planes (zeroed whole by wl_detail_decode) of a file whose header h has one. */
static int detail_planes(const wl_header *h, const uint8_t *buf, int16_t **v) {
  wl_detail d;
  size_t at = h->header_len + h->alpha_len;
  for (int c = 0; c < h->keep; c++) at += h->stream_len[c];
  WL_TRY(wl_detail_table_read(h, buf + wl_header_size(h->keep), h->header_len - wl_header_size(h->keep), &d));
  *v = wl_malloc_big(sizeof(int16_t) * (size_t)d.D * h->lat_h * h->lat_w);
  int e = *v ? wl_detail_decode(h, &d, buf + at, *v) : WL_FAIL(WL_ERR_NOMEM);
  wl_detail_free(&d);
  if (e) { /* no planes on an error, as wl_latents gives no latents */
    free(*v);
    *v = NULL;
  }
  return e;
}

int wl_detail_planes(const uint8_t *buf, size_t len, int16_t **v, wl_info *info) {
  if (!v || !info) return WL_FAIL_NULL();
  wl_header h;
  *v = NULL;
  memset(info, 0, sizeof *info);
  WL_TRY(wl_header_read(buf, len, &h));
  wl_info_of(&h, info);
  return h.step && h.modality == WL_MODALITY_IMAGE ? detail_planes(&h, buf, v) : 0; /* audio's are per chunk */
}

/* The stripes of wl_decode_rows: the colour planes from stripes.c, the alpha plane's rows
 * from its zstd stream as they come. */
typedef struct {
  const wl_header *h;
  wl_image rows;
  ZSTD_DStream *z;
  ZSTD_inBuffer in;
  uint8_t *raw;
  wl_rows_fn put;
  void *user;
} rows_ctx;

static int put_rows(void *user, const float *planes, int y0, int n) {
  rows_ctx *c = user;
  c->rows.planes = (float *)planes;
  c->rows.height = n;
  if (c->z) {
    const size_t bps = (size_t)c->h->depth / 8, want = (size_t)n * c->h->width * bps;
    ZSTD_outBuffer out = {c->raw, want, 0};
    size_t r = 1;
    while (out.pos < want && r) /* r: 0 once the frame is whole */
      if (ZSTD_isError(r = ZSTD_decompressStream(c->z, &out, &c->in)) || (r && c->in.pos == c->in.size && out.pos < want))
        return WL_FAIL(WL_ERR_CORRUPT);
    const int last = y0 + n == c->h->height;
    if (out.pos < want || (last && (r || c->in.pos != c->in.size))) return WL_FAIL(WL_ERR_CORRUPT); /* the plane is the frame */
    for (size_t i = 0; i < want / bps; i++)
      c->rows.alpha[i] = bps == 2 ? (float)(c->raw[2 * i] | c->raw[2 * i + 1] << 8) : c->raw[i];
  }
  return c->put(c->user, &c->rows, y0);
}

/* wl_decode_rows; whole: wl_decode's planes, which an image decoded whole is synthesised into. */
static int decode_rows(const wl_model *m, const uint8_t *buf, size_t len, int stripe, float *whole, wl_rows_fn put,
                       void *user) {
  wl_header h;
  int16_t *q, *v = NULL;
  if (!m || !buf || !put) return WL_FAIL_NULL();
  if (stripe < 0) return WL_FAIL_WHY(WL_ERR_ARG, "stripe %d: 0 (chosen) or more", stripe);
  WL_TRY(wl_image_latents(m, buf, len, &h, &q));
  int e = h.step ? wl_image_whole_check(h.height, h.width) : 0; /* a detail layer's planes are held whole */
  rows_ctx c = {&h, {h.channels, 0, h.width, h.depth, NULL, NULL}, NULL, {buf + h.header_len, h.alpha_len, 0},
                NULL, put, user};
  const int B = stripe > 0 ? stripe : 0, most = wl_stripe_rows(&h, B);
  if (!e && h.step) e = detail_planes(&h, buf, &v);
  if (!e && h.has_alpha) {
    c.z = ZSTD_createDStream();
    c.raw = malloc((size_t)most * h.width * (h.depth / 8));
    c.rows.alpha = malloc(sizeof(float) * (size_t)most * h.width);
    e = c.z && c.raw && c.rows.alpha ? 0 : WL_FAIL(WL_ERR_NOMEM);
  }
  if (!e) e = wl_stripes_run(m, &h, q, v, B, whole, put_rows, &c);
  ZSTD_freeDStream(c.z);
  free(c.raw);
  free(c.rows.alpha);
  free(q);
  free(v);
  return e;
}

int wl_decode_rows(const wl_model *m, const uint8_t *buf, size_t len, int stripe, wl_rows_fn put, void *user) {
  return decode_rows(m, buf, len, stripe, NULL, put, user);
}

/* wl_decode: each stripe copied into the whole image (an image decoded whole is there already). */
static int put_image(void *user, const wl_image *rows, int y0) {
  wl_image *img = user;
  const size_t W = (size_t)img->width, n = (size_t)rows->height * W;
  for (int c = 0; c < img->channels && rows->planes != img->planes; c++)
    memcpy(img->planes + ((size_t)c * img->height + y0) * W, rows->planes + c * n, sizeof(float) * n);
  if (img->alpha) memcpy(img->alpha + (size_t)y0 * W, rows->alpha, sizeof(float) * n);
  return 0;
}

int wl_decode(const wl_model *m, const uint8_t *buf, size_t len, wl_image *img) {
  if (!m || !img) return WL_FAIL_NULL();
  wl_info info;
  memset(img, 0, sizeof *img);
  WL_TRY(wl_info_read(buf, len, &info));
  if (info.modality != WL_MODALITY_IMAGE) return WL_FAIL(WL_ERR_MISMATCH);
  WL_TRY(wl_image_whole_check(info.height, info.width));
  WL_TRY(wl_image_alloc(img, info.channels, info.height, info.width, info.depth, info.has_alpha));
  int e = decode_rows(m, buf, len, 0, img->planes, put_image, img);
  if (e) wl_image_release(img);
  return e;
}
