/* encode.c: wl_encode, an image into a .wlc: its latents (analysis.c, or refined by
 * search/refine.c), their streams, the alpha plane packed by zstd, the container. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/search/search.h"
#include "entropy/entropy.h"

#define ALPHA_LEVEL 19 /* alpha planes are small and mostly flat: spend time for size */

/* zstd-compresses the alpha plane as u8 or u16 little-endian samples. */
static int pack_alpha(const wl_image *img, uint8_t **out, size_t *len) {
  const size_t n = (size_t)img->height * img->width, bps = img->depth / 8;
  uint8_t *raw = malloc(n * bps), *z = malloc(ZSTD_compressBound(n * bps));
  int e = raw && z ? 0 : WL_FAIL(WL_ERR_NOMEM);
  if (!e) {
    for (size_t i = 0; i < n; i++) {
      unsigned v = (unsigned)img->alpha[i];
      raw[i * bps] = (uint8_t)v;
      if (bps == 2) raw[i * bps + 1] = (uint8_t)(v >> 8);
    }
    *len = ZSTD_compress(z, ZSTD_compressBound(n * bps), raw, n * bps, ALPHA_LEVEL);
    if (ZSTD_isError(*len) || *len > UINT32_MAX) e = WL_FAIL(WL_ERR_NOMEM);
  }
  free(raw);
  if (e) free(z); else *out = z;
  return e;
}

/* Encodes image img into a .wlc (its alpha plane packed when present). */
static int encode_image(const wl_model *m, const wl_image *img, float *inplace, const wl_encode_opts *o,
                        uint8_t **out, size_t *outlen) {
  const wl_signal sig = wl_image_signal(img), *s = &sig;
  wl_header h;
  WL_TRY(wl_header_init(m, s, WL_MODALITY_IMAGE, o, &h));
  h.has_alpha = img->alpha != NULL;
  const long P = (long)h.lat_h * h.lat_w;
  const size_t bound = wle_bound((size_t)P, h.bits);
  int16_t *q = malloc(sizeof(int16_t) * (size_t)h.keep * P);
  uint8_t *streams = malloc(bound * (size_t)h.keep), *alpha = NULL, *o8 = NULL;
  size_t alpha_len = 0;
  int e = q && streams ? 0 : WL_FAIL(WL_ERR_NOMEM);
  const int refine = o ? o->refine : 0;
  wl_work w = {.inplace = refine ? NULL : inplace};
  if (!e) e = refine > 0 ? wl_refine(m, s, h.keep, refine, q) : wl_analyse(m, s, h.keep, q, &w);
  wl_work_free(&w);
  if (!e) e = wl_code_channels(m, q, &h, streams, bound);
  if (!e && img->alpha) e = pack_alpha(img, &alpha, &alpha_len);
  if (!e) {
    h.alpha_len = (uint32_t)alpha_len;
    size_t total = wl_header_size(h.keep) + alpha_len + 4;
    for (int c = 0; c < h.keep; c++) total += h.stream_len[c];
    o8 = malloc(total);
    if (!o8) e = WL_FAIL(WL_ERR_NOMEM);
    else {
      uint8_t *p = o8 + wl_header_size(h.keep);
      wl_header_write(&h, o8);
      if (alpha_len) memcpy(p, alpha, alpha_len);
      p += alpha_len;
      for (int c = 0; c < h.keep; c++) {
        memcpy(p, streams + c * bound, h.stream_len[c]);
        p += h.stream_len[c];
      }
      wl_put32(p, wl_crc32(0, o8, total - 4));
      *out = o8;
      *outlen = total;
    }
  }
  free(q); free(streams); free(alpha);
  return e;
}

/* Checks img and o, then encode_image. */
static int encode(const wl_model *m, const wl_image *img, float *inplace, const wl_encode_opts *o, uint8_t **out,
                  size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  WL_TRY(wl_image_check(img));
  if (o && (o->refine < 0 || o->refine > WL_MAX_REFINE))
    return WL_FAIL_WHY(WL_ERR_ARG, "refine %d: 0 to %d", o->refine, WL_MAX_REFINE);
  return encode_image(m, img, inplace, o, out, outlen);
}

int wl_encode(const wl_model *m, const wl_image *img, const wl_encode_opts *o, uint8_t **out, size_t *outlen) {
  return encode(m, img, NULL, o, out, outlen);
}

int wl_encode_inplace(const wl_model *m, wl_image *img, const wl_encode_opts *o, uint8_t **out, size_t *outlen) {
  return encode(m, img, img ? img->planes : NULL, o, out, outlen);
}
