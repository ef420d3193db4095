/* synthesis.c: the decoding half of the pipeline, shared by images and audio chunks:
 * streams -> q -> tabulated inverse companding (+ fill for channels not sent) -> decoder
 * network X (decoder.c) -> inverse packets -> post-filter (1-D models that have one,
 * postfilter.c) -> [with a detail layer (detail.c): packets again, + the detail, inverse
 * packets (audio: no second post-filter)] -> crop, rescale, clamp, round. An image's packets
 * for the detail layer are X itself, split from the decoder's wl_decoder_levels(m) to J
 * (wl_detail_split), instead of the inverse transform's samples transformed again: half the
 * transform work of a decode with a detail layer (version 3 files keep the old way). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/decoder.h"
#include "codec/detail.h"
#include "codec/postfilter.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

int wl_header_check_model(const wl_model *m, const wl_header *h) {
  if (h->model_id != m->d.id) return WL_FAIL(WL_ERR_MISMATCH);
  if (h->channels != m->d.channels || h->J != m->d.J || h->K != m->d.K || h->bits != m->d.bits ||
      (h->modality == WL_MODALITY_AUDIO) != (m->d.dims == 1))
    return WL_FAIL(WL_ERR_CORRUPT);
  return 0;
}

int wl_decode_streams(const wl_model *m, const wl_header *h, const uint8_t *p, int16_t *q) {
  return WL_LOWER(wle_decode_planes(h->keep, h->entropy, p, h->stream_len, h->lat_h, h->lat_w, h->bits, m->freq, q));
}

void wl_dequantise_part(const wl_model *m, const int16_t *q, long P, int keep, long p0, long n, float *y) {
#pragma omp parallel for schedule(static)
  for (int k = 0; k < m->d.K; k++)
    for (long j = 0; j < n; j++) y[k * n + j] = k < keep ? wl_dequant_q(m, q[k * P + p0 + j]) : m->fill[k];
}

int wl_dequantise(const wl_model *m, const int16_t *q, int keep, long n, float *y) {
  if (!m || (!q && keep) || !y || keep < 0 || keep > m->d.K || n < 1) return WL_FAIL(WL_ERR_ARG);
  const int half = 1 << (m->d.bits - 1);
  int bad = 0;
  for (long i = 0; i < keep * n; i++) bad |= q[i] < 1 - half || q[i] > half - 1;
  wl_dequantise_part(m, q, n, keep, 0, n, y); /* clamped to the range */
  return bad ? WL_FAIL_WHY(WL_ERR_ARG, "a latent outside the %d-bit range", m->d.bits) : 0;
}

/* The shape of h's signal, as wl_signal_unscale crops it. */
static wl_signal shape_of(const wl_header *h) {
  return (wl_signal){h->modality == WL_MODALITY_AUDIO ? 1 : 2, h->channels, h->height, h->width, h->depth, NULL, 0};
}

int wl_detail_split(const wl_header *h) {
  return h->modality == WL_MODALITY_IMAGE && h->version != WL_FORMAT_VERSION_DETAIL;
}

/* The reconstruction before the detail layer: the signal x^ (C, Hp, Wp), scaled and padded, in
 * wk->x (sized here); an image's packets of wl_decoder_levels(m) there instead, without
 * `inverse`. */
static int reconstruct(const wl_model *m, const wl_header *h, const int16_t *q, wl_work *wk, int inverse) {
  const int C = h->channels, Wp = h->lat_w << h->J, Hp = h->modality == WL_MODALITY_AUDIO ? 1 : h->lat_h << h->J;
  WL_TRY(wl_work_reserve_synthesis(wk, m, h));
  float *X = wk->x;
  wl_dequantise(m, q, h->keep, (long)h->lat_h * h->lat_w, wk->y);
  WL_TRY(wl_decoder_forward(m, wk->y, h->lat_h, h->lat_w, X, wk->net));
  if (h->modality == WL_MODALITY_AUDIO) {
    WL_TRY(wl_wpt1_inverse_with(X, C, Wp, h->J, X, wk->scratch, wk->scap));
    /* the signal is (C, Wp); the transform's scratch (at least C Wp floats) is free again */
    return m->F ? wl_fir_apply(m->post, m->F, X, C, Wp, wk->scratch) : 0;
  }
  /* the network's activations are free again: the transform's scratch where they are enough */
  return inverse ? wl_wpt2_inverse_with(X, C, Hp, Wp, wl_decoder_levels(m), X, wk->net, wk->ncap) : 0;
}

int wl_synthesis_packets(const wl_model *m, const wl_header *h, const int16_t *q, wl_work *w, float **Xh,
                         float *alone) {
  const int split = wl_detail_split(h), L = wl_decoder_levels(m), C = h->channels, J = h->J;
  const int Hp = h->lat_h << J, Wp = h->lat_w << J;
  WL_TRY(reconstruct(m, h, q, w, !split));
  *Xh = w->x;
  if (h->modality == WL_MODALITY_AUDIO) return wl_wpt1_forward_with(w->x, C, Wp, J, w->x, w->scratch, w->scap);
  if (alone) { /* the signal of q alone, as wl_synthesise makes it, before the packets change */
    memcpy(alone, w->x, sizeof(float) * (size_t)C * Hp * Wp);
    if (split) WL_TRY(wl_wpt2_inverse_with(alone, C, Hp, Wp, L, alone, w->net, w->ncap));
  }
  if (split) /* the C 4^L bands of the decoder's packets, each split J - L levels more */
    return L < J ? wl_wpt2_forward(w->x, C << 2 * L, Hp >> L, Wp >> L, J - L, w->x) : 0;
  return wl_wpt2_forward(w->x, C, Hp, Wp, J, w->x);
}

int wl_synthesise(const wl_model *m, const wl_header *h, const int16_t *q, const int16_t *detail, float *out,
                  wl_work *w) {
  const wl_signal shape = shape_of(h);
  const int Hp = shape.dims == 2 ? h->lat_h << h->J : 1, Wp = h->lat_w << h->J;
  wl_work own = {0}, *wk = w ? w : &own;
  float *X;
  int e = detail ? wl_synthesis_packets(m, h, q, wk, &X, NULL) : reconstruct(m, h, q, wk, 1);
  if (!e && detail) {
    wl_detail_add(h, detail, X, X);
    e = shape.dims == 1 ? wl_wpt1_inverse_with(X, h->channels, Wp, h->J, X, wk->scratch, wk->scap)
                        : wl_wpt2_inverse_with(X, h->channels, Hp, Wp, h->J, X, wk->net, wk->ncap);
  }
  if (!e) wl_signal_unscale(wk->x, Hp, Wp, &shape, out ? out : wk->x);
  wl_work_free(&own);
  return e;
}
