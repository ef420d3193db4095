/* audio_decode.c: the decoder of an audio stream (chunking and cross-fades: audio_encode.c's
 * opening comment; byte layout: container.c). It holds one decoded span and the frames it shares
 * with the next chunk, synthesised by synthesis.c. wl_decode_audio decodes a whole clip in
 * memory, wl_audio_latents gives its integer latents. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "wavelet/alloc.h"
#include "codec/container.h"
#include "codec/detail.h"
#include "codec/envelope.h"
#include "entropy/entropy.h"

/* ---- decoder --------------------------------------------------------------------------- */

struct wl_audio_decoder {
  const wl_model *m;
  wl_header h;      /* the file header's fields; version 0 until it is read */
  wl_stream_pos at;
  uint8_t *rec;     /* a record arriving in pieces: have of its bytes */
  size_t have, cap;
  float *span;      /* (C, frames): a decoded chunk, then the frames given out */
  float *tail;      /* (C, O): the last chunk's frames of the coming cross-fade */
  int16_t *q;       /* (keep, frames / 2^J) */
  int16_t *dv;      /* with a detail layer: its planes (C 2^J, frames / 2^J) */
  size_t frames;    /* of the largest chunk so far, padded: span and q hold so many */
  wl_work work;     /* wl_synthesise's buffers, sized for the largest chunk so far and kept */
  wl_env env;       /* with a band envelope: its analysis, */
  int16_t *v;       /* (C, frames, bands) a chunk's values, */
  size_t vcap;      /* of so many values */
  int failed;       /* the error of a failed push: every later call returns it */
};

void wl_audio_decoder_free(wl_audio_decoder *d) {
  if (!d) return;
  free(d->rec); free(d->span); free(d->tail); free(d->q); free(d->v); free(d->dv);
  wl_work_free(&d->work);
  wl_env_free(&d->env);
  free(d);
}

int wl_audio_decoder_new(wl_audio_decoder **dp, const wl_model *m) {
  *dp = NULL;
  if (m->d.dims != 1) return WL_FAIL(WL_ERR_MISMATCH);
  if (!(*dp = calloc(1, sizeof **dp))) return WL_FAIL(WL_ERR_NOMEM);
  (*dp)->m = m;
  return 0;
}

int wl_audio_decoder_finish(const wl_audio_decoder *d) {
  return d->failed ? d->failed : d->at.done ? 0 : WL_FAIL(WL_ERR_TRUNCATED);
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
  if (h.fill) WL_TRY(wl_env_init(&d->env, h.rate));
  d->h = h;
  d->at.crc = wl_crc32(0, p, WL_AUDIO_HDR);
  return 0;
}

/* Buffers for chunk ch (its span's frames, padded to whole latents), and the cross-fade tail. */
static int reserve(wl_audio_decoder *d, const wl_header *ch) {
  const size_t C = (size_t)d->h.channels, S = (size_t)ch->lat_w << ch->J;
  if (!d->tail && !(d->tail = wl_alloc_large(sizeof(float) * C * (size_t)d->h.overlap))) return WL_FAIL(WL_ERR_NOMEM);
  if (S <= d->frames) return 0;
  free(d->span);
  free(d->q);
  free(d->dv);
  d->span = wl_alloc_large(sizeof(float) * C * S);
  d->q = wl_alloc_large(sizeof(int16_t) * (size_t)d->h.keep * (S >> ch->J));
  d->dv = d->h.has_detail ? malloc(sizeof(int16_t) * (size_t)d->m->D * (S >> ch->J)) : NULL;
  d->frames = d->span && d->q && (d->dv || !d->h.has_detail) ? S : 0;
  if (!d->frames) return WL_FAIL(WL_ERR_NOMEM); /* the decoder fails: freed by its free */
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

/* Restores the band envelope of chunk ch (index i) on its decoded span: the streams after its
 * latents' at p. */
static int restore_envelope(wl_audio_decoder *d, const wl_header *ch, uint32_t i, const uint8_t *p) {
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
    WL_TRY(wle_decode(ch->env_mode[c], p, ch->env_len[c], c ? d->v + (c - 1) * P : NULL, (int)F, d->env.bands,
                      WL_ENV_BITS, NULL, d->v + c * P));
  for (long k = 0; k < (long)P * C; k++)
    if (d->v[k] < WL_ENV_MIN || d->v[k] > WL_ENV_MAX) return WL_FAIL(WL_ERR_CORRUPT);
  const float top = ldexpf(1.0f, d->h.depth - 1);
  return wl_env_apply(&d->env, d->v, d->span, C, s, ch->width, 1.0f / top, -top, top - 1);
}

/* Chunk i decoded into span (C, n): cross-fades its first O/2 .. 3 O/2 frames with the tail of
 * chunk i - 1, keeps the frames it shares with chunk i + 1 in the tail, and packs the frames
 * that are final into span as (C, out->frames). */
static void blend(wl_audio_decoder *d, uint32_t i, long n, int last, wl_audio *out) {
  const int C = d->h.channels;
  const long O = d->h.overlap, a = i ? O / 2 : 0, z = last ? n : wl_chunk_start(&d->h, i + 1) + O / 2 - wl_chunk_start(&d->h, i);
  for (long k = 0; i && k < O; k++) {
    const float w = (float)(0.5 - 0.5 * cos(M_PI * (k + 0.5) / O));
    for (int c = 0; c < C; c++) {
      float *x = d->span + c * n + a + k;
      *x = rintf(d->tail[c * O + k] * (1 - w) + *x * w);
    }
  }
  for (int c = 0; c < C; c++) {
    if (!last) memcpy(d->tail + c * O, d->span + c * n + z, sizeof(float) * (size_t)O);
    memmove(d->span + c * (z - a), d->span + c * n + a, sizeof(float) * (size_t)(z - a));
  }
  out->samples = d->span;
  out->frames = z - a;
}

/* One push (see wl_audio_decoder_push); any error leaves d failed. */
static int push(wl_audio_decoder *d, const uint8_t *buf, size_t len, size_t *used, wl_audio *out) {
  const uint8_t *rec;
  size_t size;
  wl_header ch;
  WL_TRY(gather(d, buf, len, used, &rec, &size));
  if (rec && !d->h.version) WL_TRY(start(d, rec));
  else if (rec) {
    const int chunk = !d->at.last;
    WL_TRY(wl_record_read(&d->h, &d->at, rec, size, &ch));
    if (chunk) {
      WL_TRY(reserve(d, &ch));
      WL_TRY(wl_decode_streams(d->m, &ch, rec + ch.header_len, d->q));
      if (ch.step) WL_TRY(decode_detail(&ch, rec + ch.header_len, d->dv));
      WL_TRY(wl_synthesise(d->m, &ch, d->q, ch.step ? d->dv : NULL, d->span, &d->work));
      if (d->h.fill) WL_TRY(restore_envelope(d, &ch, d->at.index - 1, rec + ch.header_len));
      blend(d, d->at.index - 1, ch.width, d->at.last, out);
    }
  }
  out->channels = d->h.channels;
  out->rate = d->h.rate;
  out->depth = d->h.depth;
  return 0;
}

int wl_audio_decoder_push(wl_audio_decoder *d, const uint8_t *buf, size_t len, size_t *used, wl_audio *out) {
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
  wl_header h;
  wl_audio_decoder *d;
  wl_audio v;
  memset(a, 0, sizeof *a);
  WL_TRY(read_whole(m, buf, len, &h));
  const long T = h.frames;
  if (T > WL_MAX_FRAMES || T * h.channels > WL_MAX_SAMPLES) return WL_FAIL(WL_ERR_LIMIT);
  WL_TRY(wl_audio_decoder_new(&d, m));
  float *x = wl_alloc_large(sizeof(float) * (size_t)h.channels * (size_t)T);
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
  int16_t *out = malloc(sizeof(int16_t) * (size_t)h->keep * (size_t)W);
  int16_t *lat = malloc(sizeof(int16_t) * (size_t)h->keep * (size_t)((L + 2 * h->overlap) >> J));
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
