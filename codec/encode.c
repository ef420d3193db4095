/* encode.c: wl_encode, an image into a .wlc: its latents (analysis.c, or refined by
 * search/refine.c), their streams, the detail layer when asked for (detail.c), the alpha plane
 * (alpha.c), the container. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/stripes.h"
#include "codec/detail.h"
#include "codec/search/search.h"
#include "entropy/entropy.h"

/* The detail layer of latents q: the image's packets X (made the residual) against those of q's
 * reconstruction, at h->step or, where the residual would not fit there, the finest step that
 * it fits (written back to h->step). */
static int code_detail(const wl_model *m, wl_header *h, const int16_t *q, float *X, uint8_t **streams,
                       wl_detail *d) {
  const size_t n = (size_t)(h->channels << (2 * h->J)) * h->lat_h * h->lat_w;
  wl_work sw = {0};
  float *Xh;
  int16_t *v = wl_malloc_big(sizeof(int16_t) * n);
  int e = v ? wl_synthesis_packets(m, h, q, &sw, &Xh, NULL) : WL_FAIL(WL_ERR_NOMEM);
  if (!e) {
    wl_detail_residual(h, X, Xh);
    h->step = wl_detail_finest(h, X); /* the step asked, or the finest that this image's detail fits */
    e = wl_detail_quantise(h, X, NULL, v);
    if (!e) e = wl_detail_pack(h, v, streams, d, NULL);
  }
  wl_work_free(&sw);
  free(v);
  return e;
}

int wl_image_file(wl_header *h, const uint8_t *streams, size_t bound, const uint8_t *alpha, size_t alpha_len,
                  const wl_detail *d, const uint8_t *dstreams, uint8_t **out, size_t *outlen) {
  h->alpha_len = (uint32_t)alpha_len;
  const size_t head = wl_header_size(h->keep) + d->table_len;
  size_t total = head + alpha_len + d->bytes + 4;
  for (int c = 0; c < h->keep; c++) total += h->stream_len[c];
  uint8_t *o8 = malloc(total);
  if (!o8) return WL_FAIL(WL_ERR_NOMEM);
  uint8_t *p = o8 + head;
  wl_header_write(h, o8);
  if (h->step) wl_detail_table_write(h, d, o8 + wl_header_size(h->keep));
  if (alpha_len) memcpy(p, alpha, alpha_len);
  p += alpha_len;
  for (int c = 0; c < h->keep; c++) {
    memcpy(p, streams + c * bound, h->stream_len[c]);
    p += h->stream_len[c];
  }
  if (d->bytes) memcpy(p, dstreams, d->bytes);
  wl_put32(p + d->bytes, wl_crc32(0, o8, total - 4));
  *out = o8;
  *outlen = total;
  return 0;
}

/* Encodes image img into a .wlc (its alpha plane packed when present). */
typedef struct { wl_rows_in get; void *user; long chunk; } rows_src;

static int encode_image(const wl_model *m, const wl_image *img, float *inplace, const wl_encode_opts *o,
                        const rows_src *src, uint8_t **out, size_t *outlen) {
  const wl_signal sig = wl_image_signal(img), *s = &sig;
  wl_header h;
  WL_TRY(wl_header_init(m, s, WL_MODALITY_IMAGE, o, &h));
  h.has_alpha = img->alpha != NULL;
  h.step = o ? o->step : 0;
  h.zone = o ? o->zone : 0;
  const long P = (long)h.lat_h * h.lat_w;
  const size_t bound = wle_bound((size_t)P, h.bits);
  int16_t *q = wl_malloc_big(sizeof(int16_t) * (size_t)h.keep * P);
  uint8_t *streams = malloc(bound * (size_t)h.keep), *alpha = NULL, *dstreams = NULL;
  size_t alpha_len = 0;
  wl_detail d = {0};
  int e = q && streams ? 0 : WL_FAIL(WL_ERR_NOMEM);
  const int refine = o ? o->refine : 0;
  wl_work w = {.inplace = refine ? NULL : inplace};
  float *X = NULL;
  if (!e && h.step) e = wl_packets(s, h.J, &w, &X); /* kept for the detail layer */
  wl_alpha rows_alpha = {0};
  if (!e && src && img->alpha) e = wl_alpha_begin(&rows_alpha, (size_t)img->height * img->width, img->depth);
  if (!e) e = src ? wl_analyse_rows(m, &h, s, src->get, src->user, src->chunk, img->alpha ? &rows_alpha : NULL, q)
             : refine > 0 ? wl_refine(m, s, h.keep, refine, q) : X ? wl_latents_of(m, X, h.keep, P, q, NULL)
                          : wl_analyse(m, s, h.keep, q, &w);
  if (!e && o && o->masks) e = wl_mask_tiles(m, q, h.keep, h.lat_h, h.lat_w, o->masks);
  if (!e && h.step) e = code_detail(m, &h, q, X, &dstreams, &d);
  wl_work_free(&w);
  if (!e) e = wl_code_channels(m, q, &h, streams, bound, NULL);
  if (!e && img->alpha) e = src ? wl_alpha_end(&rows_alpha, &alpha, &alpha_len) : wl_pack_alpha(img, &alpha, &alpha_len);
  wl_alpha_free(&rows_alpha);
  if (!e) e = wl_image_file(&h, streams, bound, alpha, alpha_len, &d, dstreams, out, outlen);
  wl_detail_free(&d);
  free(q); free(streams); free(alpha); free(dstreams);
  return e;
}

/* The image options of o (NULL: none): refine, step and dead zone in range, the zone with a
 * step; an image read by rows (`whole` 0) takes none of them. */
static int opts_check(const wl_encode_opts *o, int whole) {
  if (!o) return 0;
  if (!whole && (o->step || o->refine || o->zone != 0))
    return WL_FAIL_WHY(WL_ERR_ARG, "an image read by rows is coded without detail layer or refinement");
  if (o->refine < 0 || o->refine > WL_MAX_REFINE)
    return WL_FAIL_WHY(WL_ERR_ARG, "refine %d: 0 to %d", o->refine, WL_MAX_REFINE);
  if (o->step < 0 || o->step > WL_MAX_STEP) return WL_FAIL_WHY(WL_ERR_ARG, "step %d: 0 to %d", o->step, WL_MAX_STEP);
  if (!(o->zone >= 0 && o->zone <= WL_MAX_ZONE && (o->zone == 0 || o->step)))
    return WL_FAIL_WHY(WL_ERR_ARG, "dead zone %g: 0 to %g, with a step", o->zone, WL_MAX_ZONE);
  return 0;
}

/* Checks img and o, then encode_image. */
static int encode(const wl_model *m, const wl_image *img, float *inplace, const wl_encode_opts *o, uint8_t **out,
                  size_t *outlen) {
  if (out) *out = NULL;
  if (!m || !out || !outlen) return WL_FAIL_NULL();
  *outlen = 0;
  WL_TRY(wl_image_check(img));
  WL_TRY(opts_check(o, 1));
  return encode_image(m, img, inplace, o, NULL, out, outlen);
}

int wl_encode(const wl_model *m, const wl_image *img, const wl_encode_opts *o, uint8_t **out, size_t *outlen) {
  return encode(m, img, NULL, o, out, outlen);
}

int wl_encode_inplace(const wl_model *m, wl_image *img, const wl_encode_opts *o, uint8_t **out, size_t *outlen) {
  return encode(m, img, img ? img->planes : NULL, o, out, outlen);
}

int wl_encode_rows_chunked(const wl_model *m, const wl_image *shape, const wl_encode_opts *o, wl_rows_in get,
                           void *user, long chunk, uint8_t **out, size_t *outlen) {
  const rows_src src = {get, user, chunk};
  if (!shape || !out || !outlen) return WL_FAIL_NULL();
  *out = NULL;
  *outlen = 0;
  if (!m || !get) return WL_FAIL(WL_ERR_ARG);
  WL_TRY(wl_image_shape_check(shape));
  WL_TRY(opts_check(o, 0));
  return encode_image(m, shape, NULL, o, &src, out, outlen);
}

int wl_encode_rows(const wl_model *m, const wl_image *shape, const wl_encode_opts *o, wl_rows_in get, void *user,
                   uint8_t **out, size_t *outlen) {
  return wl_encode_rows_chunked(m, shape, o, get, user, 0, out, outlen);
}
