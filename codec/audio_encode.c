/* audio_encode.c: audio as a stream of chunks (byte layout: container.c). The encoder holds one
 * chunk's span and codes it with the one pipeline (analysis.c: packets, encoder, rANS);
 * wl_encode_audio codes a whole clip in memory. The decoder: audio_decode.c.
 *
 * Chunk i codes the span [s_i, s_i + n) of the signal: s_0 = 0, s_i = i L - O, n = L + 2 O
 * (L + O for chunk 0), except the last chunk, which ends where the signal does. The periodic
 * packet transform of a span joins its two ends, which disturbs the decoded frames near them
 * (level-J CDF 9/7 supports reach about 8 2^J frames, a post-filter its half length more), so
 * around each boundary b = (i + 1) L the decoder drops the O/2 frames nearest either span's end
 * and cross-fades the middle O frames:
 *   x(b - O/2 + k) = (1 - w_k) x_i + w_k x_{i+1},   w_k = (1 - cos(pi (k + 1/2) / O)) / 2,
 * k = 0 .. O - 1: complementary raised-cosine weights summing to 1. Every frame comes from one
 * chunk, or from two, each at least O/2 from its span's ends. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/detail.h"
#include "codec/envelope.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

/* Frames of room at each span end for a post-filter: half of one of up to 257 taps (more for
 * a model whose filter is longer). */
#define FILTER_ROOM 128

/* O/2 covers what a span's joined ends can reach: the level-J wavelet supports (8 2^J frames;
 * a linear model measures 4.3 2^J at J 8), the residual path's 1x3 convolutions (2 latents a
 * block) and a post-filter. */
int wl_audio_chunking(const wl_model *m, long chunk, long *L, long *O) {
  if (!m || !L || !O) return WL_FAIL_NULL();
  if (m->d.dims != 1) return WL_FAIL_WHY(WL_ERR_MISMATCH, "an image model: chunks are audio's");
  const long unit = 1L << m->d.J, room = m->F / 2 > FILTER_ROOM ? m->F / 2 : FILTER_ROOM;
  const long half = ((8 + 2 * m->R) * unit + room + unit - 1) / unit * unit;
  *O = 2 * half;
  *L = chunk ? chunk : WL_AUDIO_CHUNK_SAMPLES / m->d.channels / unit * unit;
  const long most = WL_MAX_SAMPLES / m->d.channels - 2 * *O < WL_MAX_CHUNK ? WL_MAX_SAMPLES / m->d.channels - 2 * *O
                                                                          : WL_MAX_CHUNK;
  if (*L % unit || *L < *O || *L > most)
    return WL_FAIL_WHY(WL_ERR_ARG, "chunk %ld: a multiple of 2^J = %ld from the overlap %ld to %ld frames", *L, unit, *O,
                       most);
  return 0;
}

/* ---- encoder --------------------------------------------------------------------------- */

struct wl_audio_encoder {
  const wl_model *m;
  wl_header h;       /* the file's fields; width, lat_w, entropy, stream_len: the chunk in hand */
  long cap;          /* L + 2 O: a full span */
  float *win;        /* (C, cap): the signal's frames [s_index, s_index + have), but the one past a
                        full span; a chunk's packets are made there (wl_work.inplace) */
  float *ahead;      /* (C): the frame past a full span, which tells that it is not the last */
  float *tail;       /* (C, 2 O + 1): the frames the next chunk shares, kept while win holds packets */
  wl_work work;      /* wl_packets' and wl_latents_of's buffers, kept from chunk to chunk */
  int16_t *q;        /* (keep, (L + 2 O) / 2^J) */
  uint8_t *streams;  /* keep x bound */
  size_t bound;
  wl_work syn;       /* with a detail layer: the decoder's buffers, */
  int16_t *dv;       /* (C 2^J, (L + 2 O) / 2^J) its planes */
  wl_coders coders;  /* the entropy coders' scratch */
  wl_env env;        /* with a band envelope: its analysis, */
  int16_t *v;        /* (C, frames, bands) a chunk's values */
  uint8_t *estreams; /* C x ebound */
  size_t ebound;
  long have;
  uint32_t index;    /* the chunk being filled */
  int64_t total;     /* frames taken */
  uint8_t *out;      /* the bytes of the current call */
  size_t outlen, outcap;
  uint32_t crc;      /* of every byte given out */
  int state;         /* 0: nothing written yet, 1: coding, 2: finished, -1: failed */
  int masks;         /* per-segment masks on chunks with a detail layer (wl_encode_opts.masks) */
};

void wl_audio_encoder_free(wl_audio_encoder *e) {
  if (!e) return;
  free(e->win); free(e->ahead); free(e->tail); free(e->q); free(e->streams); free(e->out); free(e->v); free(e->estreams); free(e->dv);
  wl_work_free(&e->work);
  wl_work_free(&e->syn);
  wl_env_free(&e->env);
  wl_coders_free(&e->coders);
  free(e);
}

int wl_audio_encoder_new(wl_audio_encoder **ep, const wl_model *m, int channels, int rate, int depth,
                         const wl_encode_opts *o) {
  if (!ep || !m) return WL_FAIL_NULL();
  *ep = NULL;
  if (channels < 1 || channels > WL_MAX_CHANNELS || rate < 1 || (depth != 8 && depth != 16 && depth != 24 && depth != 32))
    return WL_FAIL_WHY(WL_ERR_ARG, "%d channels (1 to %d), %d Hz, %d-bit (8, 16, 24 or 32)", channels, WL_MAX_CHANNELS,
                       rate, depth);
  const wl_signal s = {1, channels, 1, 1, depth, NULL, 0};
  wl_header h;
  long L, O;
  WL_TRY(wl_header_init(m, &s, WL_MODALITY_AUDIO, o, &h));
  if (o && (o->step < 0 || o->step > WL_MAX_STEP))
    return WL_FAIL_WHY(WL_ERR_ARG, "step %d: 0 (none) or 1 to %d", o->step, WL_MAX_STEP);
  WL_TRY(wl_audio_chunking(m, o ? o->chunk : 0, &L, &O));
  wl_audio_encoder *e = calloc(1, sizeof *e);
  if (!e) return WL_FAIL(WL_ERR_NOMEM);
  h.rate = rate;
  h.chunk = L;
  h.overlap = O;
  h.fill = !(o && o->nofill);
  h.has_detail = o && o->step;
  h.step = o ? o->step : 0;
  e->m = m;
  e->h = h;
  e->masks = o && o->masks;
  e->cap = L + 2 * O;
  const size_t P = (size_t)(L + 2 * O) >> h.J;
  e->bound = wle_bound(P, h.bits);
  e->win = wl_malloc_big(sizeof(float) * (size_t)channels * e->cap);
  e->ahead = malloc(sizeof(float) * (size_t)channels);
  e->tail = malloc(sizeof(float) * (size_t)channels * (size_t)(2 * O + 1));
  e->work.inplace = e->win;
  e->q = wl_malloc_big(sizeof(int16_t) * (size_t)h.keep * P);
  e->streams = malloc(e->bound * (size_t)h.keep); /* sparse: each channel uses the start of its bound */
  if (h.fill && !wl_env_init(&e->env, rate, 0)) {
    const size_t values = (size_t)((e->cap - 1) / (e->env.N / 2) + 3) * (size_t)e->env.bands;
    e->ebound = wle_bound(values, WL_ENV_BITS);
    e->v = malloc(sizeof(int16_t) * values * (size_t)channels);
    e->estreams = malloc(e->ebound * (size_t)channels);
  }
  if (h.has_detail) e->dv = wl_malloc_big(sizeof(int16_t) * (size_t)m->D * P);
  /* the transform's scratch sized now, so that a stream whose first chunk is its shortest does not
   * allocate (and fault in) it twice */
  if (!e->win || !e->ahead || !e->tail || !e->q || !e->streams || (h.fill && (!e->v || !e->estreams)) ||
      (h.has_detail && !e->dv) ||
      wl_grow(&e->work.scratch, &e->work.scap, (size_t)WL_NTHREADS() * wl_wpt1_inplace_floats((int)e->cap)) ||
      wl_coders_init(&e->coders)) {
    wl_audio_encoder_free(e);
    return WL_FAIL(WL_ERR_NOMEM);
  }
  *ep = e;
  return 0;
}

/* Room for n more bytes of output; NULL when out of memory. */
static uint8_t *reserve(wl_audio_encoder *e, size_t n) {
  if (e->outlen + n > e->outcap) {
    size_t cap = e->outcap ? e->outcap : 1 << 16;
    while (cap < e->outlen + n) cap *= 2;
    uint8_t *b = realloc(e->out, cap);
    if (!b) return NULL;
    e->out = b;
    e->outcap = cap;
  }
  return e->out + e->outlen;
}

/* Gives out the n bytes written at reserve()'s pointer. */
static void commit(wl_audio_encoder *e, size_t n) {
  e->crc = wl_crc32(e->crc, e->out + e->outlen, n);
  e->outlen += n;
}

/* The band envelope of the span's n frames: each signal channel's plane (frames, bands) coded,
 * with the channel before it as context. */
static int code_envelope(wl_audio_encoder *e, long n) {
  wl_header *h = &e->h;
  const int64_t s = wl_chunk_start(h, e->index);
  int64_t f0;
  long F;
  wl_env_frames(e->env.N, s, n, &f0, &F);
  wl_env_measure(&e->env, e->win, e->cap, h->channels, s, n, ldexpf(1.0f, 1 - h->depth), e->v);
  const long P = F * e->env.bands;
  for (int c = 0; c < h->channels; c++) {
    size_t len;
    int mode;
    WL_TRY(wle_encode_best(e->coders.s, e->v + c * P, c ? e->v + (c - 1) * P : NULL, (int)F, e->env.bands, WL_ENV_BITS,
                           NULL, 0, e->estreams + c * e->ebound, e->ebound, &len, &mode));
    h->env_mode[c] = (uint8_t)mode;
    h->env_len[c] = (uint32_t)len;
  }
  return 0;
}

/* The detail layer of the chunk just analysed (its packets X, made its residual, latents in e->q):
 * against the packets of the decoder's reconstruction; its streams (malloc'd) and table, and
 * h->detail_bytes. */
static int code_detail(wl_audio_encoder *e, float *X, uint8_t **streams, wl_detail *d) {
  wl_header *h = &e->h;
  float *Xh;
  WL_TRY(wl_synthesis_packets(e->m, h, e->q, &e->syn, &Xh, NULL));
  wl_detail_residual(h, X, Xh);
  WL_TRY(wl_detail_quantise(h, X, NULL, e->dv));
  WL_TRY(wl_detail_pack(h, e->dv, streams, d, &e->coders));
  h->detail_bytes = d->table_len + d->bytes;
  return h->detail_bytes > UINT32_MAX ? WL_FAIL(WL_ERR_LIMIT) : 0; /* a u32 in the record (caller frees) */
}

/* Codes the first n held frames as chunk `index` and writes its record; win holds packets after. */
static int code_chunk(wl_audio_encoder *e, long n, int last) {
  wl_header *h = &e->h;
  const wl_signal s = {1, h->channels, 1, (int)n, h->depth, e->win, e->cap};
  h->width = (int)n;
  wl_latent_shape(&s, h->J, &h->lat_h, &h->lat_w);
  if (h->fill) WL_TRY(code_envelope(e, n)); /* it reads win */
  float *X;
  WL_TRY(wl_packets(&s, h->J, &e->work, &X));
  WL_TRY(wl_latents_of(e->m, X, h->keep, (long)h->lat_h * h->lat_w, e->q, &e->work));
  if (h->has_detail && e->masks) WL_TRY(wl_mask_segments(e->m, e->q, h->keep, (long)h->lat_h * h->lat_w));
  WL_TRY(wl_code_channels(e->m, e->q, h, e->streams, e->bound, &e->coders));
  uint8_t *dstreams = NULL;
  wl_detail d = {0};
  int err = h->has_detail ? code_detail(e, X, &dstreams, &d) : 0;
  size_t size = wl_chunk_table_size(h) + h->detail_bytes + 4;
  for (int c = 0; c < h->keep; c++) size += h->stream_len[c];
  for (int c = 0; h->fill && c < h->channels; c++) size += h->env_len[c];
  uint8_t *p = err ? NULL : reserve(e, size);
  if (!err && !p) err = WL_FAIL(WL_ERR_NOMEM);
  if (err) {
    free(dstreams);
    wl_detail_free(&d);
    return err;
  }
  uint8_t *s8 = p + wl_chunk_head_write(h, e->index, last, p);
  for (int c = 0; c < h->keep; s8 += h->stream_len[c++]) memcpy(s8, e->streams + c * e->bound, h->stream_len[c]);
  if (h->has_detail) {
    wl_detail_table_write(h, &d, s8);
    memcpy(s8 + d.table_len, dstreams, d.bytes);
    s8 += h->detail_bytes;
    free(dstreams);
    wl_detail_free(&d);
  }
  for (int c = 0; h->fill && c < h->channels; s8 += h->env_len[c++])
    memcpy(s8, e->estreams + c * e->ebound, h->env_len[c]);
  wl_put32(s8, wl_crc32(0, p, size - 4));
  commit(e, size);
  e->index++;
  return 0;
}

/* Starts a call: resets the output, writes the file header first of all. */
static int begin(wl_audio_encoder *e) {
  if (e->state < 0 || e->state == 2) return WL_FAIL(WL_ERR_ARG);
  e->outlen = 0;
  if (e->state == 1) return 0;
  uint8_t *p = reserve(e, WL_AUDIO_HDR);
  if (!p) return WL_FAIL(WL_ERR_NOMEM);
  wl_audio_header_write(&e->h, p);
  commit(e, WL_AUDIO_HDR);
  e->state = 1;
  return 0;
}

static int end_call(wl_audio_encoder *e, int err, const uint8_t **out, size_t *outlen) {
  if (err) e->state = -1;
  *out = err ? NULL : e->out;
  *outlen = err ? 0 : e->outlen;
  return err;
}

int wl_audio_encoder_push(wl_audio_encoder *e, const wl_audio *a, const uint8_t **out, size_t *outlen) {
  if (!e || !out || !outlen) return WL_FAIL_NULL();
  const wl_header *h = &e->h;
  if (!a || a->channels != h->channels || a->rate != h->rate || a->depth != h->depth || a->frames < 0 ||
      (a->frames && !a->samples))
    return end_call(e, WL_FAIL(WL_ERR_ARG), out, outlen);
  int err = begin(e);
  for (long t = 0; !err && t < a->frames;) {
    const long span = wl_chunk_span(h, e->index), want = span + 1;
    const long k = a->frames - t < want - e->have ? a->frames - t : want - e->have, in_win = k < span - e->have ? k : span - e->have;
    for (int c = 0; c < h->channels; c++) {
      const float *src = a->samples + c * a->frames + t;
      memcpy(e->win + c * e->cap + e->have, src, sizeof(float) * (size_t)in_win);
      if (in_win < k) e->ahead[c] = src[in_win];
    }
    e->have += k;
    e->total += k;
    t += k;
    if (e->total > WL_MAX_STREAM_FRAMES) err = WL_FAIL(WL_ERR_LIMIT);
    else if (e->have == want) {
      /* a frame past the span: not the last chunk. The next span starts L (chunk 0: L - O) on;
       * the frames it shares (2 O + 1) wait in tail while the chunk is coded. */
      const long drop = wl_chunk_start(h, e->index + 1) - wl_chunk_start(h, e->index), kept = e->have - drop;
      for (int c = 0; c < h->channels; c++) {
        memcpy(e->tail + c * kept, e->win + c * e->cap + drop, sizeof(float) * (size_t)(kept - 1));
        e->tail[c * kept + kept - 1] = e->ahead[c];
      }
      err = code_chunk(e, span, 0);
      for (int c = 0; c < h->channels; c++)
        memcpy(e->win + c * e->cap, e->tail + c * kept, sizeof(float) * (size_t)kept);
      e->have = kept;
    }
  }
  return end_call(e, err, out, outlen);
}

int wl_audio_encoder_finish(wl_audio_encoder *e, const uint8_t **out, size_t *outlen) {
  if (!e || !out || !outlen) return WL_FAIL_NULL();
  int err = begin(e);
  if (!err && !e->total) err = WL_FAIL(WL_ERR_LIMIT);
  if (!err) err = code_chunk(e, e->have, 1);
  uint8_t *p = err ? NULL : reserve(e, WL_END_LEN);
  if (!err && !p) err = WL_FAIL(WL_ERR_NOMEM);
  if (!err) {
    p[0] = WL_TAG_END;
    p[1] = 0;
    wl_put64(p + 2, (uint64_t)e->total);
    wl_put32(p + 10, wl_crc32(e->crc, p, 10));
    commit(e, WL_END_LEN);
    e->state = 2;
  }
  return end_call(e, err, out, outlen);
}

/* ---- a whole clip ---------------------------------------------------------------------- */

int wl_encode_audio(const wl_model *m, const wl_audio *a, const wl_encode_opts *o, uint8_t **out, size_t *outlen) {
  if (!m || !a || !out || !outlen) return WL_FAIL_NULL();
  wl_audio_encoder *e;
  const uint8_t *p[2];
  size_t n[2];
  *out = NULL;
  *outlen = 0;
  WL_TRY(wl_audio_check(a));
  WL_TRY(wl_audio_encoder_new(&e, m, a->channels, a->rate, a->depth, o));
  int err = wl_audio_encoder_push(e, a, &p[0], &n[0]);
  uint8_t *b = err ? NULL : malloc(n[0]);
  if (!err && !b) err = WL_FAIL(WL_ERR_NOMEM);
  if (!err) {
    memcpy(b, p[0], n[0]);
    err = wl_audio_encoder_finish(e, &p[1], &n[1]);
  }
  uint8_t *all = err ? NULL : realloc(b, n[0] + n[1]);
  if (!err && !all) err = WL_FAIL(WL_ERR_NOMEM);
  if (err) free(b);
  else {
    memcpy(all + n[0], p[1], n[1]);
    *out = all;
    *outlen = n[0] + n[1];
  }
  wl_audio_encoder_free(e);
  return err;
}
