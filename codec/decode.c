/* decode.c: wl_decode, a .wlc into an image: the container, the latents' streams, synthesis
 * (synthesis.c) and the alpha plane. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/detail.h"

/* Reads an image's header, checks it belongs to `m`, and decodes the keep latent planes into *q. */
int wl_image_latents(const wl_model *m, const uint8_t *buf, size_t len, wl_header *h, int16_t **q) {
  *q = NULL;
  WL_TRY(wl_header_read(buf, len, h));
  if (h->modality != WL_MODALITY_IMAGE) return WL_FAIL(WL_ERR_MISMATCH);
  WL_TRY(wl_header_check_model(m, h));
  int16_t *lat = malloc(sizeof(int16_t) * (size_t)h->keep * h->lat_h * h->lat_w);
  if (!lat) return WL_FAIL(WL_ERR_NOMEM);
  int e = wl_decode_streams(m, h, buf + h->header_len + h->alpha_len, lat);
  if (e) free(lat); else *q = lat;
  return e;
}

static int unpack_alpha(const wl_header *h, const uint8_t *z, float *alpha) {
  const size_t n = (size_t)h->height * h->width, bps = (size_t)h->depth / 8;
  uint8_t *raw = malloc(n * bps);
  if (!raw) return WL_FAIL(WL_ERR_NOMEM);
  size_t got = ZSTD_decompress(raw, n * bps, z, h->alpha_len);
  int e = ZSTD_isError(got) || got != n * bps ? WL_FAIL(WL_ERR_CORRUPT) : 0;
  for (size_t i = 0; !e && i < n; i++) alpha[i] = bps == 2 ? (float)(raw[2 * i] | raw[2 * i + 1] << 8) : raw[i];
  free(raw);
  return e;
}

/* The detail layer's planes (malloc'd) of a file whose header h has one. */
static int detail_planes(const wl_header *h, const uint8_t *buf, int16_t **v) {
  wl_detail d;
  size_t at = h->header_len + h->alpha_len;
  for (int c = 0; c < h->keep; c++) at += h->stream_len[c];
  WL_TRY(wl_detail_table_read(h, buf + wl_header_size(h->keep), h->header_len - wl_header_size(h->keep), &d));
  *v = malloc(sizeof(int16_t) * (size_t)d.D * h->lat_h * h->lat_w);
  int e = *v ? wl_detail_decode(h, &d, buf + at, *v) : WL_FAIL(WL_ERR_NOMEM);
  wl_detail_free(&d);
  return e;
}

int wl_detail_planes(const uint8_t *buf, size_t len, int16_t **v, wl_info *info) {
  wl_header h;
  *v = NULL;
  memset(info, 0, sizeof *info);
  WL_TRY(wl_header_read(buf, len, &h));
  wl_info_of(&h, info);
  return h.step && h.modality == WL_MODALITY_IMAGE ? detail_planes(&h, buf, v) : 0; /* audio's are per chunk */
}

int wl_decode(const wl_model *m, const uint8_t *buf, size_t len, wl_image *img) {
  wl_header h;
  int16_t *q, *v = NULL;
  memset(img, 0, sizeof *img);
  WL_TRY(wl_image_latents(m, buf, len, &h, &q));
  int e = h.step ? detail_planes(&h, buf, &v) : 0;
  if (!e) e = wl_image_alloc(img, h.channels, h.height, h.width, h.depth, h.has_alpha);
  if (!e) e = wl_synthesise(m, &h, q, v, img->planes, NULL);
  free(q);
  free(v);
  if (!e && h.has_alpha) e = unpack_alpha(&h, buf + h.header_len, img->alpha);
  if (e) wl_image_release(img);
  return e;
}
