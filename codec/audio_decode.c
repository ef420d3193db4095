/* audio_decode.c: the decoder of an audio stream (chunking and cross-fades: audio_encode.c's
 * opening comment; byte layout: container.c). It holds a chunk's latents and the frames it
 * shares with the next chunk, and synthesises the chunk in segments (below), or whole with a
 * detail layer (synthesis.c). wl_decode_audio decodes a whole clip in memory, wl_audio_latents
 * gives its integer latents.
 *
 * Segments. A chunk without a detail layer gives its final frames SEGMENT latent positions
 * (2^19 frames at J = 8) at a time, so that the decoder holds the chunk's latents and buffers
 * of a segment's size, not the span's signal several times over (169 MB for a stereo chunk of
 * the default 2^22 frames, decoded whole). Each stage computes its part from the part of its
 * input it reads, by the same operations on the same values as synthesis.c on the whole span,
 * so the frames are the same bits (tested against the whole):
 *   - the decoder network on the positions [A, B), A and B on its SGEMM blocks of WL_CONV_BLOCK
 *     (or the span's ends), runs the whole span's SGEMMs on those blocks (layers.c): it is exact
 *     on [A + h, B - h) and up to a span end, h = 2 R (each 1x3 convolution reaches one more
 *     position; beyond the span it reads zeros, as the whole does);
 *   - the inverse packet transform, periodic over the span, on the positions [a - MARGIN,
 *     b + MARGIN) gathered periodically, is exact on the frames [a 2^J, b 2^J): each level's
 *     lifting reaches a few samples of its own grid, under MARGIN = 4 positions of the coarsest
 *     in all (3 gave other bits in the tests);
 *   - the post-filter runs the whole span's blocks (wl_fir_apply_part);
 *   - the band envelope, frame by frame in the same order (wl_env_apply_part), from the samples
 *     each frame covers. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/container.h"
#include "codec/decoder.h"
#include "codec/detail.h"
#include "codec/envelope.h"
#include "codec/layers.h"
#include "codec/postfilter.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

#define SEGMENT 2048L /* latent positions of final frames a segment gives */
#define MARGIN 4L     /* latent positions the inverse transform reads past a segment's ends */

/* ---- decoder --------------------------------------------------------------------------- */

struct wl_audio_decoder {
  const wl_model *m;
  wl_header h;      /* the file header's fields; version 0 until it is read */
  wl_stream_pos at;
  uint8_t *rec;     /* a record arriving in pieces: have of its bytes */
  size_t have, cap;
  float *span;      /* (C, frames): a chunk decoded whole, then the frames given out */
  size_t spancap;
  float *tail;      /* (C, O): the last chunk's frames of the coming cross-fade */
  int16_t *q;       /* (keep, frames / 2^J) */
  int16_t *dv;      /* with a detail layer: its planes (C 2^J, frames / 2^J) */
  size_t frames;    /* of the largest chunk so far, padded: span and q hold so many */
  wl_work work;     /* wl_synthesise's buffers, sized for the largest chunk so far and kept */
  wl_env env;       /* with a band envelope: its analysis, */
  int16_t *v;       /* (C, frames, bands) a chunk's values, */
  size_t vcap;      /* of so many values */
  /* a chunk given out in segments: its header and index, its final frames [next, end) still to
   * come (none: next == end), and the buffers of a segment */
  wl_header cur;
  uint32_t index;
  int last;
  long next, end, segment; /* segment: latent positions per segment (SEGMENT; tests fewer) */
  float *y, *net, *Xn, *Xs, *scr; /* each stage's output in a buffer that earlier ones are done with */
  size_t ycap, ncap, xncap, xscap, scrcap;
  int failed;       /* the error of a failed push: every later call returns it */
};

void wl_audio_decoder_free(wl_audio_decoder *d) {
  if (!d) return;
  free(d->rec); free(d->span); free(d->tail); free(d->q); free(d->v); free(d->dv);
  free(d->y); free(d->net); free(d->Xn); free(d->Xs); free(d->scr);
  wl_work_free(&d->work);
  wl_env_free(&d->env);
  free(d);
}

int wl_audio_decoder_new(wl_audio_decoder **dp, const wl_model *m) {
  if (!dp || !m) return WL_FAIL_NULL();
  *dp = NULL;
  if (m->d.dims != 1) return WL_FAIL(WL_ERR_MISMATCH);
  if (!(*dp = calloc(1, sizeof **dp))) return WL_FAIL(WL_ERR_NOMEM);
  (*dp)->m = m;
  (*dp)->segment = SEGMENT;
  return 0;
}

void wl_audio_decoder_segment(wl_audio_decoder *d, long positions) { d->segment = positions; }

int wl_audio_decoder_finish(const wl_audio_decoder *d) {
  if (!d) return WL_FAIL_NULL();
  if (d->failed) return d->failed;
  if (d->next < d->end) return WL_FAIL_WHY(WL_ERR_ARG, "frames not given out yet: push until none come");
  return d->at.done ? 0 : WL_FAIL(WL_ERR_TRUNCATED);
}

/* The bytes of the record at p (n of them at hand), or more than n while they do not tell. */
static int record_need(const wl_audio_decoder *d, const uint8_t *p, size_t n, size_t *need) {
  if (d->h.version) return wl_record_size(&d->h, &d->at, p, n, need);
  *need = WL_AUDIO_HDR;
  return 0;
}

/* The next whole record in *rec, *size: in place when buf holds it all, else gathered in d->rec
 * (*rec NULL while incomplete). *used: bytes of buf taken. */
static int gather(wl_audio_decoder *d, const uint8_t *buf, size_t len, size_t *used, const uint8_t **rec,
                  size_t *size) {
  size_t need;
  *rec = NULL;
  if (!d->have) {
    WL_TRY(record_need(d, buf, len, &need));
    if (need <= len) {
      *rec = buf;
      *size = *used = need;
      return 0;
    }
  }
  for (;;) {
    WL_TRY(record_need(d, d->rec, d->have, &need));
    if (d->have == need) {
      *rec = d->rec;
      *size = need;
      d->have = 0;
      return 0;
    }
    if (*used == len) return 0;
    if (need > d->cap) {
      uint8_t *b = realloc(d->rec, need);
      if (!b) return WL_FAIL(WL_ERR_NOMEM);
      d->rec = b;
      d->cap = need;
    }
    const size_t take = need - d->have < len - *used ? need - d->have : len - *used;
    memcpy(d->rec + d->have, buf + *used, take);
    d->have += take;
    *used += take;
  }
}

/* The file header: checks it against the model. Nothing is sized by it: the buffers grow as
 * chunk records arrive (reserve), so a header alone, which may claim chunks of 2^30 samples,
 * reserves no memory. */
static int start(wl_audio_decoder *d, const uint8_t *p) {
  wl_header h;
  WL_TRY(wl_header_peek(p, WL_AUDIO_HDR, &h));
  if (h.modality != WL_MODALITY_AUDIO) return WL_FAIL(WL_ERR_MISMATCH);
  WL_TRY(wl_header_check_model(d->m, &h));
  if (h.fill) WL_TRY(wl_env_init(&d->env, h.rate, 1));
  d->h = h;
  d->at.crc = wl_crc32(0, p, WL_AUDIO_HDR);
  return 0;
}

/* Buffers for chunk ch: its latents and detail planes (its span's frames, padded to whole
 * latents), the cross-fade tail, and to decode it whole the span's signal and synthesis work. */
static int reserve(wl_audio_decoder *d, const wl_header *ch, int whole) {
  const size_t C = (size_t)d->h.channels, S = (size_t)ch->lat_w << ch->J;
  if (!d->tail && !(d->tail = malloc(sizeof(float) * C * (size_t)d->h.overlap))) return WL_FAIL(WL_ERR_NOMEM);
  if (S > d->frames) {
    free(d->q);
    free(d->dv);
    d->q = wl_malloc_big(sizeof(int16_t) * (size_t)d->h.keep * (S >> ch->J));
    d->dv = d->h.has_detail ? wl_malloc_big(sizeof(int16_t) * (size_t)d->m->D * (S >> ch->J)) : NULL;
    d->frames = d->q && (d->dv || !d->h.has_detail) ? S : 0;
    if (!d->frames) return WL_FAIL(WL_ERR_NOMEM); /* the decoder fails: freed by its free */
  }
  if (!whole) return 0;
  WL_TRY(wl_grow(&d->span, &d->spancap, C * S));
  return wl_work_reserve_synthesis(&d->work, d->m, ch);
}

/* The detail layer's planes v of chunk ch, whose streams start at p (its latents' first): the
 * table must account for the chunk's detail bytes exactly. */
static int decode_detail(const wl_header *ch, const uint8_t *p, int16_t *v) {
  wl_detail dt;
  for (int c = 0; c < ch->keep; c++) p += ch->stream_len[c];
  WL_TRY(wl_detail_table_read(ch, p, ch->detail_bytes, &dt));
  int e = dt.table_len + dt.bytes == ch->detail_bytes ? wl_detail_decode(ch, &dt, p + dt.table_len, v)
                                                      : WL_FAIL(WL_ERR_CORRUPT);
  wl_detail_free(&dt);
  return e;
}

/* The band envelope of chunk ch (index i) into d->v: the streams after its latents' at p. */
static int decode_envelope(wl_audio_decoder *d, const wl_header *ch, uint32_t i, const uint8_t *p) {
  const int C = d->h.channels;
  const int64_t s = wl_chunk_start(&d->h, i);
  int64_t f0;
  long F;
  wl_env_frames(d->env.N, s, ch->width, &f0, &F);
  const size_t P = (size_t)F * (size_t)d->env.bands;
  if (P * (size_t)C > d->vcap) {
    free(d->v);
    d->vcap = (d->v = malloc(sizeof(int16_t) * P * (size_t)C)) ? P * (size_t)C : 0;
    if (!d->v) return WL_FAIL(WL_ERR_NOMEM);
  }
  for (int c = 0; c < ch->keep; c++) p += ch->stream_len[c];
  p += ch->detail_bytes;
  for (int c = 0; c < C; p += ch->env_len[c++])
    WL_TRY(WL_LOWER(wle_decode(ch->env_mode[c], p, ch->env_len[c], c ? d->v + (c - 1) * P : NULL, (int)F,
                               d->env.bands, WL_ENV_BITS, NULL, d->v + c * P)));
  for (long k = 0; k < (long)P * C; k++)
    if (d->v[k] < WL_ENV_MIN || d->v[k] > WL_ENV_MAX) return WL_FAIL(WL_ERR_CORRUPT);
  return 0;
}

/* Frames [t0, t1) of chunk i (n frames), final but for the cross-fade, in x (C, t1 - t0):
 * cross-fades those of its frames O/2 .. 3 O/2 with the tail of chunk i - 1, keeps those it
 * shares with chunk i + 1 in the tail, and packs those that are final into x as
 * (C, out->frames). */
static void blend(wl_audio_decoder *d, uint32_t i, long n, int last, long t0, long t1, float *x, wl_audio *out) {
  const int C = d->h.channels;
  const long O = d->h.overlap, a = i ? O / 2 : 0, m = t1 - t0;
  const long z = last ? n : wl_chunk_start(&d->h, i + 1) + O / 2 - wl_chunk_start(&d->h, i);
  for (long t = t0 > a ? t0 : a; i && t < t1 && t < a + O; t++) {
    const long k = t - a;
    const float w = (float)(0.5 - 0.5 * cos(M_PI * (k + 0.5) / O));
    for (int c = 0; c < C; c++) {
      float *v = x + c * m + (t - t0);
      *v = rintf(d->tail[c * O + k] * (1 - w) + *v * w);
    }
  }
  const long k0 = t0 > z ? t0 : z, k1 = t1 < z + O ? t1 : z + O, o0 = t0 > a ? t0 : a, o1 = t1 < z ? t1 : z;
  const long f = o1 > o0 ? o1 - o0 : 0;
  for (int c = 0; c < C; c++) {
    if (!last && k1 > k0) memcpy(d->tail + c * O + (k0 - z), x + c * m + (k0 - t0), sizeof(float) * (size_t)(k1 - k0));
    memmove(x + c * f, x + c * m + (o0 - t0), sizeof(float) * (size_t)f);
  }
  out->samples = x;
  out->frames = f;
}

/* ---- a chunk in segments (opening comment) --------------------------------------------- */

/* The network's output X (D rows ds floats apart) of the span's positions [r0, r1), run on the
 * blocks around them. */
static int net_columns(wl_audio_decoder *d, long r0, long r1, float *dst, long ds) {
  const wl_model *m = d->m;
  const long P = d->cur.lat_w, h = m->N ? 2L * m->R : 0, up = (r1 + h + WL_CONV_BLOCK - 1) / WL_CONV_BLOCK * WL_CONV_BLOCK;
  const long A = (r0 > h ? r0 - h : 0) / WL_CONV_BLOCK * WL_CONV_BLOCK, n = (up < P ? up : P) - A;
  WL_TRY(wl_grow(&d->y, &d->ycap, (size_t)m->d.K * (size_t)n));
  WL_TRY(wl_grow(&d->net, &d->ncap, wl_decoder_work_floats(m, 1, (int)n)));
  WL_TRY(wl_grow(&d->Xn, &d->xncap, (size_t)m->D * (size_t)n));
  wl_dequantise_part(m, d->q, P, d->cur.keep, A, n, d->y);
  WL_TRY(wl_decoder_forward(m, d->y, 1, (int)n, d->Xn, d->net));
  for (int k = 0; k < m->D; k++) memcpy(dst + k * ds, d->Xn + k * n + (r0 - A), sizeof(float) * (size_t)(r1 - r0));
  return 0;
}

/* The final samples of frames [t0, t1) of the chunk in hand, but for the cross-fade: *fin
 * (C, t1 - t0). From the frames they read back: the envelope's, the post-filter's blocks, the
 * inverse transform's positions, gathered periodically from the network's output. */
static int segment(wl_audio_decoder *d, long t0, long t1, float **fin) {
  const wl_model *m = d->m;
  const int C = d->h.channels, J = d->cur.J, F = m->F, fill = d->h.fill;
  const long P = d->cur.lat_w, n = d->cur.width, Wp = P << J, EN = fill ? d->env.N : 0;
  const long e0 = t0 - EN > 0 ? t0 - EN : 0, e1 = t1 + EN < n ? t1 + EN : n;
  long N, B = 1;
  if (F) wl_fir_blocks(F, &N, &B);
  const long g0 = e0 / B * B, up = (e1 + B - 1) / B * B, g1 = up < Wp ? up : Wp, c = F / 2;
  /* each block reads B + 2c samples, past Wp too (read periodically) */
  const long L0 = wl_floor_div(g0 - c, 1L << J) - MARGIN, L1 = wl_floor_div(up + c - 1, 1L << J) + 1 + MARGIN;
  const long Ps = L1 - L0, T = Ps << J;
  WL_TRY(wl_grow(&d->Xs, &d->xscap, (size_t)m->D * (size_t)Ps));
  for (long j = L0; j < L1;) {
    const long p = (j % P + P) % P, run = L1 - j < P - p ? L1 - j : P - p;
    WL_TRY(net_columns(d, p, p + run, d->Xs + (j - L0), Ps));
    j += run;
  }
  WL_TRY(wl_grow(&d->scr, &d->scrcap, wl_wpt_scratch_floats(C, 1, (int)T)));
  if (wl_wpt1_inverse_with(d->Xs, C, (int)T, J, d->Xs, d->scr, d->scrcap)) return WL_FAIL(WL_ERR_NOMEM);
  /* each stage writes a buffer that the stages before are done with: the post-filter Xn, the
   * unscaling scr, the envelope the other of Xs and Xn */
  float **buf = &d->Xn;
  size_t *cap = &d->xncap;
  long x0 = L0 * (1L << J), xs = T; /* L0 may be negative */
  if (F) {
    WL_TRY(wl_grow(&d->Xn, &d->xncap, (size_t)C * (size_t)(g1 - g0)));
    WL_TRY(wl_fir_apply_part(m->post, F, d->Xs, T, x0, T, C, g0, g1, d->Xn, g1 - g0));
    buf = &d->Xs, cap = &d->xscap, x0 = g0, xs = g1 - g0;
  }
  const float *sig = F ? d->Xn : d->Xs;
  WL_TRY(wl_grow(&d->scr, &d->scrcap, (size_t)C * (size_t)(e1 - e0)));
  const wl_signal shape = {1, C, 1, (int)(e1 - e0), d->h.depth, NULL, 0};
  wl_signal_unscale(sig + (e0 - x0), 1, (int)xs, &shape, d->scr);
  *fin = d->scr;
  if (!fill) return 0;
  const float top = ldexpf(1.0f, d->h.depth - 1), hi = wl_sample_hi(&shape);
  WL_TRY(wl_grow(buf, cap, (size_t)C * (size_t)(t1 - t0)));
  WL_TRY(wl_env_apply_part(&d->env, d->v, d->scr, e1 - e0, e0, 0, C, wl_chunk_start(&d->h, d->index), n, t0, t1,
                           1.0f / top, -top, hi, *buf, t1 - t0));
  *fin = *buf;
  return 0;
}

/* The next final frames of the chunk in hand into *out (none once it is all given out). The
 * segments end half a block past the network's blocks, so that the blocks around one add half a
 * block at either end (a segment's frames read about 60 positions beyond it). */
static int give(wl_audio_decoder *d, wl_audio *out) {
  const long S = d->segment << d->cur.J, off = (WL_CONV_BLOCK / 2) << d->cur.J;
  while (d->next < d->end && !out->frames) {
    const long t0 = d->next, b = (wl_floor_div(t0 - off, S) + 1) * S + off, t1 = b < d->end ? b : d->end;
    float *x = NULL;
    WL_TRY(segment(d, t0, t1, &x));
    d->next = t1;
    blend(d, d->index, d->cur.width, d->last, t0, t1, x, out);
  }
  return 0;
}

/* A chunk or end record: a chunk is decoded, and its first final frames go to *out. */
static int record(wl_audio_decoder *d, const uint8_t *rec, size_t size, wl_audio *out) {
  wl_header ch;
  const int chunk = !d->at.last;
  WL_TRY(wl_record_read(&d->h, &d->at, rec, size, &ch));
  if (!chunk) return 0;
  const uint32_t i = d->at.index - 1;
  const int C = d->h.channels, whole = ch.step || ch.lat_w < 8 * MARGIN || !d->segment;
  WL_TRY(reserve(d, &ch, whole));
  WL_TRY(wl_decode_streams(d->m, &ch, rec + ch.header_len, d->q));
  if (d->h.fill) WL_TRY(decode_envelope(d, &ch, i, rec + ch.header_len));
  if (whole) {
    const wl_signal shape = {1, C, 1, 1, d->h.depth, NULL, 0};
    const float top = ldexpf(1.0f, d->h.depth - 1), hi = wl_sample_hi(&shape);
    if (ch.step) WL_TRY(decode_detail(&ch, rec + ch.header_len, d->dv));
    WL_TRY(wl_synthesise(d->m, &ch, d->q, ch.step ? d->dv : NULL, d->span, &d->work));
    if (d->h.fill)
      WL_TRY(wl_env_apply(&d->env, d->v, d->span, C, wl_chunk_start(&d->h, i), ch.width, 1.0f / top, -top, hi));
    blend(d, i, ch.width, d->at.last, 0, ch.width, d->span, out);
    return 0;
  }
  const long O = d->h.overlap;
  d->cur = ch;
  d->index = i;
  d->last = d->at.last;
  d->next = i ? O / 2 : 0;
  d->end = d->last ? ch.width : wl_chunk_start(&d->h, i + 1) + O / 2 - wl_chunk_start(&d->h, i) + O;
  return give(d, out);
}

/* One push (see wl_audio_decoder_push); any error leaves d failed. */
static int push(wl_audio_decoder *d, const uint8_t *buf, size_t len, size_t *used, wl_audio *out) {
  const uint8_t *rec = NULL;
  size_t size = 0;
  if (d->next < d->end) {
    WL_TRY(give(d, out)); /* a chunk's segments first: nothing is read */
  } else {
    WL_TRY(gather(d, buf, len, used, &rec, &size));
    if (rec && !d->h.version) WL_TRY(start(d, rec));
    else if (rec) WL_TRY(record(d, rec, size, out));
  }
  out->channels = d->h.channels;
  out->rate = d->h.rate;
  out->depth = d->h.depth;
  return 0;
}

int wl_audio_decoder_push(wl_audio_decoder *d, const uint8_t *buf, size_t len, size_t *used, wl_audio *out) {
  if (!d || !used || !out || (!buf && len)) return WL_FAIL_NULL();
  *used = 0;
  memset(out, 0, sizeof *out);
  if (!d->failed) d->failed = push(d, buf, len, used, out);
  if (d->failed) memset(out, 0, sizeof *out);
  return d->failed;
}

/* ---- a whole clip ---------------------------------------------------------------------- */

/* Reads and checks a whole audio stream's records into *h, and that m made it. */
static int read_whole(const wl_model *m, const uint8_t *buf, size_t len, wl_header *h) {
  WL_TRY(wl_header_read(buf, len, h));
  if (h->modality != WL_MODALITY_AUDIO) return WL_FAIL(WL_ERR_MISMATCH);
  return wl_header_check_model(m, h);
}

int wl_decode_audio(const wl_model *m, const uint8_t *buf, size_t len, wl_audio *a) {
  if (!m || !a) return WL_FAIL_NULL();
  wl_header h;
  wl_audio_decoder *d;
  wl_audio v;
  memset(a, 0, sizeof *a);
  WL_TRY(read_whole(m, buf, len, &h));
  const long T = h.frames;
  if (T > WL_MAX_FRAMES || T * h.channels > WL_MAX_SAMPLES) return WL_FAIL(WL_ERR_LIMIT);
  WL_TRY(wl_audio_decoder_new(&d, m));
  float *x = wl_malloc_big(sizeof(float) * (size_t)h.channels * (size_t)T);
  int err = x ? 0 : WL_FAIL(WL_ERR_NOMEM);
  for (size_t off = 0, used; !err && off < len; off += used) {
    err = wl_audio_decoder_push(d, buf + off, len - off, &used, &v);
    for (int c = 0; !err && c < h.channels && v.frames; c++)
      memcpy(x + c * T + a->frames, v.samples + c * v.frames, sizeof(float) * (size_t)v.frames);
    a->frames += v.frames;
  }
  if (!err) err = wl_audio_decoder_finish(d);
  wl_audio_decoder_free(d);
  if (err) { free(x); memset(a, 0, sizeof *a); return err; }
  *a = (wl_audio){h.channels, T, h.rate, h.depth, x};
  return 0;
}

int wl_audio_latents(const wl_model *m, const uint8_t *buf, size_t len, int16_t **q, wl_header *h) {
  WL_TRY(read_whole(m, buf, len, h));
  const long W = h->lat_w, L = h->chunk, J = h->J;
  if ((int64_t)W * h->keep > WL_MAX_SAMPLES) return WL_FAIL(WL_ERR_LIMIT);
  int16_t *out = wl_malloc_big(sizeof(int16_t) * (size_t)h->keep * (size_t)W);
  int16_t *lat = wl_malloc_big(sizeof(int16_t) * (size_t)h->keep * (size_t)((L + 2 * h->overlap) >> J));
  wl_stream_pos at = {.crc = wl_crc32(0, buf, WL_AUDIO_HDR)};
  wl_header ch;
  int err = out && lat ? 0 : WL_FAIL(WL_ERR_NOMEM);
  for (size_t pos = WL_AUDIO_HDR, need = 0; !err && !at.last; pos += need) {
    err = wl_record_size(h, &at, buf + pos, len - pos, &need); /* read_whole checked them all */
    if (!err) err = wl_record_read(h, &at, buf + pos, need, &ch);
    if (!err) err = wl_decode_streams(m, &ch, buf + pos + ch.header_len, lat);
    if (err) break;
    /* chunk i's own latents: frames [i L, min((i + 1) L, T)), from (i L - s_i) / 2^J in its span */
    const uint32_t i = at.index - 1;
    const long first = (long)i * (L >> J), skip = (long)(i * L - wl_chunk_start(h, i)) >> J;
    const long count = (at.last ? W : first + (L >> J)) - first;
    for (int c = 0; c < h->keep; c++) memcpy(out + c * W + first, lat + c * ch.lat_w + skip, sizeof(int16_t) * (size_t)count);
  }
  free(lat);
  if (err) free(out); else *q = out;
  return err;
}
