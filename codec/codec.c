/* codec.c: the pipeline around a model, one for images (2-D packets) and audio (1-D packets,
 * a latent grid of height 1, one chunk of a stream at a time: audio.c); wl_encode/wl_decode
 * only adapt their types.
 * encode: scale + pad -> wavelet packets X (D, h, w) -> y = W_e X + b_e (keep, h, w)
 *         -> companding + rounding q -> per-channel rANS streams -> .wlc (container.c)
 * decode: streams -> q -> tabulated inverse companding (+ fill for channels not sent)
 *         -> decoder network X (decoder.c) -> inverse packets -> post-filter (1-D models that
 *         have one, postfilter.c) -> crop, rescale, clamp, round. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <zstd.h>
#include "codec/internal.h"
#include "codec/alloc.h"
#include "codec/layers.h"
#include "codec/container.h"
#include "codec/postfilter.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

#define ALPHA_LEVEL 19 /* alpha planes are small and mostly flat: spend time for size */

int wl_image_alloc(wl_image *img, int channels, int height, int width, int depth, int alpha) {
  memset(img, 0, sizeof *img);
  if (channels < 1 || height < 1 || width < 1 ||
      (size_t)height * (size_t)width > SIZE_MAX / sizeof(float) / (size_t)(channels + 1))
    return WL_ERR_ARG;
  const size_t plane = sizeof(float) * (size_t)height * (size_t)width;
  img->channels = channels;
  img->height = height;
  img->width = width;
  img->depth = depth;
  img->planes = wl_alloc_large(plane * (size_t)channels);
  if (alpha) img->alpha = wl_alloc_large(plane);
  if (!img->planes || (alpha && !img->alpha)) {
    wl_image_release(img);
    return WL_ERR_NOMEM;
  }
  return 0;
}

void wl_image_release(wl_image *img) {
  if (!img) return;
  free(img->planes);
  free(img->alpha);
  img->planes = img->alpha = NULL;
}

void wl_audio_release(wl_audio *a) {
  if (!a) return;
  free(a->samples);
  a->samples = NULL;
}

static int wpt_error(int e) { return e == -1 ? WL_ERR_NOMEM : e < 0 ? WL_ERR_ARG : 0; }
static int entropy_error(int e) { return e == WLE_ERR_NOMEM ? WL_ERR_NOMEM : e < 0 ? WL_ERR_CORRUPT : 0; }

void wl_work_free(wl_work *w) {
  free(w->x);
  free(w->scratch);
  free(w->y);
  free(w->net);
  memset(w, 0, sizeof *w);
}

/* Makes *buf hold at least n floats (keeping none of its contents). */
static int grow(float **buf, size_t *cap, size_t n) {
  if (*cap >= n) return 0;
  free(*buf);
  *cap = 0;
  if (!(*buf = wl_alloc_large(sizeof(float) * n))) return WL_ERR_NOMEM;
  *cap = n;
  return 0;
}

int wl_work_reserve(wl_work *w, const wl_signal *s, int J) {
  int Hp, Wp;
  wl_signal_padded(s, J, &Hp, &Wp);
  WL_TRY(grow(&w->x, &w->xcap, (size_t)s->channels * Hp * Wp));
  return s->dims == 1 ? grow(&w->scratch, &w->scap, wl_wpt_scratch_floats(s->channels, 1, Wp)) : 0;
}

int wl_packets(const wl_signal *s, int J, wl_work *w, float **X) {
  int Hp, Wp;
  wl_signal_padded(s, J, &Hp, &Wp);
  if (s->dims == 2 && Hp == s->height && Wp == s->width && (!s->cstride || s->cstride == (long)Hp * Wp)) {
    /* no padding: the transform scales the samples as it first reads them, into w->inplace if given */
    if (!w->inplace) WL_TRY(wl_work_reserve(w, s, J));
    *X = w->inplace ? w->inplace : w->x;
    return wpt_error(wl_wpt2_forward_scaled(s->planes, s->channels, Hp, Wp, J, wl_sample_scale(s),
                                            wl_sample_offset(s), *X));
  }
  WL_TRY(wl_work_reserve(w, s, J));
  wl_signal_scale(s, Hp, Wp, w->x);
  if (s->dims == 1) {
    WL_TRY(wpt_error(wl_wpt1_forward_with(w->x, s->channels, Wp, J, w->x, w->scratch, w->scap)));
  } else {
    WL_TRY(wpt_error(wl_wpt2_forward(w->x, s->channels, Hp, Wp, J, w->x)));
  }
  *X = w->x;
  return 0;
}

int wl_analyse(const wl_model *m, const wl_signal *s, int keep, int refine, int16_t *q, wl_work *w) {
  if (refine > 0 && s->dims == 2) return wl_refine(m, s, keep, refine, q);
  const long P = wl_latent_count(s, m->d.J);
  wl_work own = {0};
  float *X, *y = malloc(sizeof(float) * (size_t)keep * P);
  int e = y ? wl_packets(s, m->d.J, w ? w : &own, &X) : WL_ERR_NOMEM;
  if (!e) {
    wl_affine(m->enc_w, m->enc_b, X, keep, m->D, P, y);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < keep * P; i++) q[i] = wl_quantise(m->thresh, m->d.bits, y[i]);
  }
  wl_work_free(&own);
  free(y);
  return e;
}

int wl_code_channels(const wl_model *m, const int16_t *q, wl_header *h, uint8_t *buf, size_t bound) {
  const long P = (long)h->lat_h * h->lat_w;
  int err = 0;
#pragma omp parallel for schedule(dynamic) reduction(min : err)
  for (int c = 0; c < h->keep; c++) {
    size_t len = 0;
    int mode = 0;
    int e = wle_encode_best(q + c * P, c ? q + (c - 1) * P : NULL, h->lat_h, h->lat_w, h->bits,
                            m->freq + ((size_t)c << h->bits), buf + c * bound, bound, &len, &mode);
    if (e < 0 || len > UINT32_MAX) err = e < 0 ? entropy_error(e) : WL_ERR_LIMIT;
    h->entropy[c] = (uint8_t)mode;
    h->stream_len[c] = (uint32_t)len;
  }
  return err;
}

/* zstd-compresses the alpha plane as u8 or u16 little-endian samples. */
static int pack_alpha(const wl_image *img, uint8_t **out, size_t *len) {
  const size_t n = (size_t)img->height * img->width, bps = img->depth / 8;
  uint8_t *raw = malloc(n * bps), *z = malloc(ZSTD_compressBound(n * bps));
  int e = raw && z ? 0 : WL_ERR_NOMEM;
  if (!e) {
    for (size_t i = 0; i < n; i++) {
      unsigned v = (unsigned)img->alpha[i];
      raw[i * bps] = (uint8_t)v;
      if (bps == 2) raw[i * bps + 1] = (uint8_t)(v >> 8);
    }
    *len = ZSTD_compress(z, ZSTD_compressBound(n * bps), raw, n * bps, ALPHA_LEVEL);
    if (ZSTD_isError(*len) || *len > UINT32_MAX) e = WL_ERR_NOMEM;
  }
  free(raw);
  if (e) free(z); else *out = z;
  return e;
}

int wl_header_init(const wl_model *m, const wl_signal *s, int modality, const wl_encode_opts *o, wl_header *h) {
  memset(h, 0, sizeof *h);
  if (s->channels != m->d.channels || s->dims != m->d.dims) return WL_ERR_MISMATCH;
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
  h->bits = m->d.bits;
  if (h->keep < 1 || h->keep > h->K) return WL_ERR_ARG;
  wl_latent_shape(s, h->J, &h->lat_h, &h->lat_w);
  return 0;
}

/* Encodes image img into a .wlc (its alpha plane packed when present). */
static int encode_image(const wl_model *m, const wl_image *img, const wl_encode_opts *o, uint8_t **out,
                        size_t *outlen) {
  const wl_signal sig = wl_image_signal(img), *s = &sig;
  wl_header h;
  WL_TRY(wl_header_init(m, s, WL_MODALITY_IMAGE, o, &h));
  h.has_alpha = img->alpha != NULL;
  const long P = (long)h.lat_h * h.lat_w;
  const size_t bound = wle_bound((size_t)P, h.bits);
  int16_t *q = malloc(sizeof(int16_t) * (size_t)h.keep * P);
  uint8_t *streams = malloc(bound * (size_t)h.keep), *alpha = NULL, *o8 = NULL;
  size_t alpha_len = 0;
  int e = q && streams ? 0 : WL_ERR_NOMEM;
  const int refine = o ? o->refine : 0;
  wl_work w = {.inplace = o && o->consume && !refine ? img->planes : NULL};
  if (!e) e = wl_analyse(m, s, h.keep, refine, q, &w);
  wl_work_free(&w);
  if (!e) e = wl_code_channels(m, q, &h, streams, bound);
  if (!e && img->alpha) e = pack_alpha(img, &alpha, &alpha_len);
  if (!e) {
    h.alpha_len = (uint32_t)alpha_len;
    size_t total = wl_header_size(h.keep) + alpha_len + 4;
    for (int c = 0; c < h.keep; c++) total += h.stream_len[c];
    o8 = malloc(total);
    if (!o8) e = WL_ERR_NOMEM;
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

int wl_encode(const wl_model *m, const wl_image *img, const wl_encode_opts *o, uint8_t **out,
              size_t *outlen) {
  *out = NULL;
  *outlen = 0;
  WL_TRY(wl_image_check(img));
  if (o && (o->refine < 0 || o->refine > WL_MAX_REFINE)) return WL_ERR_ARG;
  return encode_image(m, img, o, out, outlen);
}

int wl_header_check_model(const wl_model *m, const wl_header *h) {
  if (h->model_id != m->d.id) return WL_ERR_MISMATCH;
  if (h->channels != m->d.channels || h->J != m->d.J || h->K != m->d.K || h->bits != m->d.bits ||
      (h->modality == WL_MODALITY_AUDIO) != (m->d.dims == 1))
    return WL_ERR_CORRUPT;
  return 0;
}

int wl_decode_streams(const wl_model *m, const wl_header *h, const uint8_t *p, int16_t *q) {
  const long P = (long)h->lat_h * h->lat_w;
  int e = 0;
  for (int c = 0; c < h->keep && !e; p += h->stream_len[c], c++)
    e = entropy_error(wle_decode(h->entropy[c], p, h->stream_len[c], c ? q + (c - 1) * P : NULL, h->lat_h,
                                 h->lat_w, h->bits, m->freq + ((size_t)c << h->bits), q + c * P));
  return e;
}

/* Reads an image's header, checks it belongs to `m`, and decodes the keep latent planes into *q. */
static int read_latents(const wl_model *m, const uint8_t *buf, size_t len, wl_header *h, int16_t **q) {
  *q = NULL;
  WL_TRY(wl_header_read(buf, len, h));
  if (h->modality != WL_MODALITY_IMAGE) return WL_ERR_MISMATCH;
  WL_TRY(wl_header_check_model(m, h));
  int16_t *lat = malloc(sizeof(int16_t) * (size_t)h->keep * h->lat_h * h->lat_w);
  if (!lat) return WL_ERR_NOMEM;
  int e = wl_decode_streams(m, h, buf + h->header_len + h->alpha_len, lat);
  if (e) free(lat); else *q = lat;
  return e;
}

int wl_latents(const wl_model *m, const uint8_t *buf, size_t len, int16_t **q, wl_header *h) {
  *q = NULL;
  WL_TRY(wl_header_peek(buf, len, h));
  return h->modality == WL_MODALITY_AUDIO ? wl_audio_latents(m, buf, len, q, h) : read_latents(m, buf, len, h, q);
}

static int unpack_alpha(const wl_header *h, const uint8_t *z, float *alpha) {
  const size_t n = (size_t)h->height * h->width, bps = (size_t)h->depth / 8;
  uint8_t *raw = malloc(n * bps);
  if (!raw) return WL_ERR_NOMEM;
  size_t got = ZSTD_decompress(raw, n * bps, z, h->alpha_len);
  int e = ZSTD_isError(got) || got != n * bps ? WL_ERR_CORRUPT : 0;
  for (size_t i = 0; !e && i < n; i++) alpha[i] = bps == 2 ? (float)(raw[2 * i] | raw[2 * i + 1] << 8) : raw[i];
  free(raw);
  return e;
}

/* Sizes w for synthesising h's shape: latents and decoder activations, then the padded signal
 * and its 1-D scratch as for analysis. */
int wl_work_reserve_synthesis(wl_work *w, const wl_model *m, const wl_header *h) {
  const int audio = h->modality == WL_MODALITY_AUDIO;
  const wl_signal padded = {audio ? 1 : 2, h->channels, audio ? 1 : h->lat_h << h->J, h->lat_w << h->J, h->depth, NULL, 0};
  WL_TRY(grow(&w->y, &w->ycap, (size_t)h->K * h->lat_h * h->lat_w));
  WL_TRY(grow(&w->net, &w->ncap, wl_decoder_work_floats(m, h->lat_h, h->lat_w)));
  return wl_work_reserve(w, &padded, h->J);
}

int wl_synthesise(const wl_model *m, const wl_header *h, const int16_t *q, float *out, wl_work *w) {
  const int C = h->channels, half = 1 << (h->bits - 1);
  const wl_signal shape = {h->modality == WL_MODALITY_AUDIO ? 1 : 2, C, h->height, h->width, h->depth, NULL, 0};
  const int Hp = shape.dims == 2 ? h->lat_h << h->J : 1, Wp = h->lat_w << h->J;
  const long P = (long)h->lat_h * h->lat_w;
  wl_work own = {0}, *wk = w ? w : &own;
  int e = wl_work_reserve_synthesis(wk, m, h);
  float *y = wk->y, *X = wk->x;
  if (!e) {
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)h->K * P; i++)
      y[i] = i < h->keep * P ? m->dequant[q[i] + half] : m->fill[i / P];
    e = wl_decoder_forward(m, y, h->lat_h, h->lat_w, X, wk->net);
    if (!e) e = wpt_error(shape.dims == 1 ? wl_wpt1_inverse_with(X, C, Wp, h->J, X, wk->scratch, wk->scap)
                                          : wl_wpt2_inverse(X, C, Hp, Wp, wl_decoder_levels(m), X));
    if (!e && m->F) e = wl_fir_apply(m->post, m->F, X, C, Wp); /* 1-D: the signal is (C, Wp) */
  }
  if (!e) wl_signal_unscale(X, Hp, Wp, &shape, out);
  wl_work_free(&own);
  return e;
}

int wl_decode(const wl_model *m, const uint8_t *buf, size_t len, wl_image *img) {
  wl_header h;
  int16_t *q;
  memset(img, 0, sizeof *img);
  WL_TRY(read_latents(m, buf, len, &h, &q));
  int e = wl_image_alloc(img, h.channels, h.height, h.width, h.depth, h.has_alpha);
  if (!e) e = wl_synthesise(m, &h, q, img->planes, NULL);
  free(q);
  if (!e && h.has_alpha) e = unpack_alpha(&h, buf + h.header_len, img->alpha);
  if (e) wl_image_release(img);
  return e;
}
