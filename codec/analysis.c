/* analysis.c: the encoding half of the pipeline, shared by images, audio chunks, refinement
 * and training: scale + pad -> wavelet packets X (D, h, w) -> y = W_e X + b_e (keep, h, w)
 * -> companding + rounding q -> per-channel rANS streams (the container is written by the
 * callers: encode.c, audio_encode.c). */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

int wl_packets(const wl_signal *s, int J, wl_work *w, float **X) {
  int Hp, Wp;
  wl_signal_padded(s, J, &Hp, &Wp);
  if (s->dims == 2 && Hp == s->height && Wp == s->width && (!s->cstride || s->cstride == (long)Hp * Wp)) {
    /* no padding: the transform scales the samples as it first reads them, into w->inplace if given */
    if (!w->inplace) WL_TRY(wl_work_reserve(w, s, J));
    *X = w->inplace ? w->inplace : w->x;
    return wl_wpt2_forward_scaled(s->planes, s->channels, Hp, Wp, J, wl_sample_scale(s), wl_sample_offset(s), *X);
  }
  if (s->dims == 1 && w->inplace) {
    /* padded by mirroring and transformed where it lies, then its rows packed end to end */
    const long cs = s->cstride ? s->cstride : s->width;
    float *x = w->inplace;
    if (cs < Wp) return WL_FAIL_WHY(WL_ERR_ARG, "rows %ld apart: no room for the %d padded frames", cs, Wp);
    for (int c = 0; c < s->channels; c++)
      for (int j = s->width; j < Wp; j++) x[c * cs + j] = x[c * cs + wl_mirror(j, s->width)];
    WL_TRY(wl_grow(&w->scratch, &w->scap, (size_t)WL_NTHREADS() * wl_wpt1_inplace_floats(Wp)));
    const float map[2] = {wl_sample_scale(s), wl_sample_offset(s)};
    WL_TRY(wl_wpt1_forward_inplace(x, cs, s->channels, Wp, J, map, w->scratch, w->scap));
    for (int c = 1; c < s->channels && cs != Wp; c++) memmove(x + (long)c * Wp, x + c * cs, sizeof(float) * (size_t)Wp);
    *X = x;
    return 0;
  }
  WL_TRY(wl_work_reserve(w, s, J));
  wl_signal_scale(s, Hp, Wp, w->x);
  if (s->dims == 1) {
    WL_TRY(wl_wpt1_forward_with(w->x, s->channels, Wp, J, w->x, w->scratch, w->scap));
  } else {
    WL_TRY(wl_wpt2_forward(w->x, s->channels, Hp, Wp, J, w->x));
  }
  *X = w->x;
  return 0;
}

/* Columns of X copied side by side before each product: X's rows lie P floats apart, and its
 * columns packed run the product 27% faster (96 of them: 512 x 96 floats stay in L2). */
#define PANEL 96L

/* y = W_e X + b_e (wl_affine's product, then its bias) quantised a block of WL_CONV_BLOCK positions
 * at a time, the block's y on its thread while it is in cache: no (keep, P) floats are made.
 * wl_gemm gives an element the same bits in a block of any width (gemm.c). */
int wl_latents_of(const wl_model *m, const float *X, int keep, long P, int16_t *q, wl_work *w) {
  wl_work own = {0}, *wk = w ? w : &own;
  const long B = WL_CONV_BLOCK, per = keep * B + m->D * PANEL;
  WL_TRY(wl_grow(&wk->y, &wk->ycap, (size_t)WL_NTHREADS() * (size_t)per));
#pragma omp parallel for schedule(dynamic)
  for (long p0 = 0; p0 < P; p0 += B) {
    const long n = P - p0 < B ? P - p0 : B;
    float *y = wk->y + (size_t)WL_TID() * (size_t)per, *panel = y + keep * B;
    for (long j = 0; j < n; j += PANEL) {
      const long c = n - j < PANEL ? n - j : PANEL;
      for (int d = 0; d < m->D; d++)
        if (c == PANEL) /* 64 bytes a copy: vector moves (the compiler made one of 384 bytes rep movs, slower) */
          for (long k = 0; k < PANEL; k += 16) memcpy(panel + d * PANEL + k, X + d * P + p0 + j + k, 64);
        else
          memcpy(panel + d * c, X + d * P + p0 + j, sizeof(float) * (size_t)c);
      wl_gemm(y + j, n, m->enc_w, panel, c, keep, m->D, c, 0, WL_GEMM_AVX512);
    }
    for (int o = 0; o < keep; o++) /* + 0 without a bias: the same cell */
      wl_quantise_row(m, y + o * n, m->enc_b ? m->enc_b[o] : 0.0f, n, q + o * P + p0);
  }
  wl_work_free(&own);
  return 0;
}

int wl_analyse(const wl_model *m, const wl_signal *s, int keep, int16_t *q, wl_work *w) {
  wl_work own = {0};
  float *X;
  int e = wl_packets(s, m->d.J, w ? w : &own, &X);
  if (!e) e = wl_latents_of(m, X, keep, wl_latent_count(s, m->d.J), q, w ? w : &own);
  wl_work_free(&own);
  return e;
}

int wl_coders_init(wl_coders *c) {
  c->n = WL_NTHREADS();
  c->s = calloc((size_t)c->n, sizeof *c->s);
  if (!c->s) c->n = 0;
  return c->s ? 0 : WL_FAIL(WL_ERR_NOMEM);
}

void wl_coders_free(wl_coders *c) {
  for (int i = 0; i < c->n; i++) wle_scratch_free(&c->s[i]);
  free(c->s);
  c->s = NULL, c->n = 0;
}

wle_scratch *wl_coders_mine(wl_coders *c, wle_scratch *own) {
  const int t = WL_TID();
  return c && t < c->n ? &c->s[t] : own;
}

int wl_code_channels(const wl_model *m, const int16_t *q, wl_header *h, uint8_t *buf, size_t bound, wl_coders *cs) {
  const long P = (long)h->lat_h * h->lat_w;
  wl_first err = WL_FIRST;
#pragma omp parallel
  {
    wle_scratch own = {0}, *s = wl_coders_mine(cs, &own);
#pragma omp for schedule(dynamic)
    for (int c = 0; c < h->keep; c++) {
      size_t len = 0;
      int mode = 0;
      int e = wle_encode_best(s, q + c * P, c ? q + (c - 1) * P : NULL, h->lat_h, h->lat_w, h->bits,
                              m->freq + ((size_t)c << h->bits), h->fast, buf + c * bound, bound, &len, &mode);
      wl_first_note(&err, c, e < 0 ? e : len > UINT32_MAX ? WL_FAIL(WL_ERR_LIMIT) : 0);
      h->entropy[c] = (uint8_t)mode;
      h->stream_len[c] = (uint32_t)len;
    }
    wle_scratch_free(&own);
  }
  return err.err;
}

int wl_header_init(const wl_model *m, const wl_signal *s, int modality, const wl_encode_opts *o, wl_header *h) {
  memset(h, 0, sizeof *h);
  for (int i = 0; o && i < (int)(sizeof o->reserved / sizeof *o->reserved); i++)
    if (o->reserved[i]) return WL_FAIL_WHY(WL_ERR_ARG, "wl_encode_opts.reserved[%d] is not zero", i);
  if (o && ((unsigned)o->fastread > 1 || (unsigned)o->nofill > 1)) /* room for more */
    return WL_FAIL_WHY(WL_ERR_ARG, "fastread %d, nofill %d: each 0 or 1", o->fastread, o->nofill);
  const int masks = modality == WL_MODALITY_IMAGE ? WL_MAX_MASKS : 1;
  if (o && (unsigned)o->masks > (unsigned)masks) return WL_FAIL_WHY(WL_ERR_ARG, "masks %d: 0 to %d", o->masks, masks);
  if (s->channels != m->d.channels || s->dims != m->d.dims) return WL_FAIL(WL_ERR_MISMATCH);
  h->version = modality == WL_MODALITY_AUDIO ? WL_FORMAT_VERSION_AUDIO : WL_FORMAT_VERSION;
  h->modality = modality;
  h->model_id = m->d.id;
  h->channels = s->channels;
  h->height = s->height;
  h->width = s->width;
  h->depth = s->depth;
  h->J = m->d.J;
  h->K = m->d.K;
  h->keep = o && o->keep ? o->keep : m->d.keep;
  h->fast = o && o->fastread;
  h->bits = m->d.bits;
  if (h->keep < 1 || h->keep > h->K) return WL_FAIL_WHY(WL_ERR_ARG, "keep %d: 1 to the model's K = %d", h->keep, h->K);
  wl_latent_shape(s, h->J, &h->lat_h, &h->lat_w);
  return 0;
}
