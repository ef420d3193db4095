/* audio_target.c: audio rate control (walloc.h). The ladder: rung r = 1 .. B sends the first r
 * latent channels (B = wl_audio_ladder_base, K/8); rung B + s adds a detail layer of step s
 * (1 .. WL_MAX_STEP). Latent channel c's stream in a chunk depends on channels 0 .. c only (its
 * context is channel c - 1), and the band envelope on none of them, so a stream coded with more
 * channels, cut to its first k, is byte for byte the stream an encoder sending k channels writes
 * (wl_audio_truncate): one encode at keep B gives the exact size of every k <= B, and the file
 * at any of them. Steps, and SNR anywhere on the ladder, are searched by halving, each rung
 * tried encoded in full. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/container.h"
#include "codec/search/search.h"

#define GAP 0.02 /* a sized target's answer may land this far under before steps fill it */

/* Walks buf's chunk records (buf already validated) and, with out, writes the stream cut to keep
 * channels there (a detail layer, made against all of the stream's channels, is dropped from a
 * cut to fewer); *outlen: its bytes (out NULL: only counted). bytes (when given, keep_all
 * entries): the size of the stream cut to each k = 1 .. keep_all. */
static int cut(const uint8_t *buf, size_t len, const wl_header *h, int keep, uint8_t *out, size_t *outlen,
               uint64_t *bytes) {
  wl_stream_pos at = {.crc = wl_crc32(0, buf, WL_AUDIO_HDR)};
  wl_header f = *h, ch;
  size_t pos = WL_AUDIO_HDR, o = WL_AUDIO_HDR, need;
  for (int k = 0; bytes && k < h->keep; k++) bytes[k] = WL_AUDIO_HDR + WL_END_LEN;
  f.has_detail = h->has_detail && keep == h->keep; /* a cut drops the layers: its chunk heads have no room for them */
  if (out) { /* the header an encode at keep writes: the version and flags without detail layers */
    memcpy(out, buf, WL_AUDIO_HDR);
    out[4] = (uint8_t)(f.fill || f.has_detail ? WL_FORMAT_VERSION_FILL : WL_FORMAT_VERSION_AUDIO);
    out[27] = (uint8_t)((f.fill ? 1 : 0) | (f.has_detail ? 2 : 0));
    wl_put16(out + 30, (uint32_t)keep);
    wl_put32(out + 36, wl_crc32(0, out, 36));
  }
  while (!at.last) {
    WL_TRY(wl_record_size(h, &at, buf + pos, len - pos, &need));
    WL_TRY(wl_record_read(h, &at, buf + pos, need, &ch));
    const uint8_t *s = buf + pos + ch.header_len;
    uint64_t env = 0, lat = 0;
    for (int c = 0; ch.fill && c < h->channels; c++) env += ch.env_len[c];
    for (int k = 0; bytes && k < h->keep; k++) {
      f.keep = k + 1;
      f.has_detail = h->has_detail && k + 1 == h->keep;
      lat += ch.stream_len[k];
      bytes[k] += wl_chunk_table_size(&f) + lat + (k + 1 == h->keep ? ch.detail_bytes : 0) + env + 4;
    }
    const uint64_t had = ch.detail_bytes, detail = keep == h->keep ? had : 0;
    f.keep = ch.keep = keep;
    f.has_detail = ch.has_detail = h->has_detail && keep == h->keep;
    if (!detail) ch.step = 0, ch.detail_bytes = 0;
    const size_t head = wl_chunk_table_size(&f);
    size_t body = env + detail;
    for (int c = 0; c < keep; c++) body += ch.stream_len[c];
    if (out) {
      wl_chunk_head_write(&ch, at.index - 1, at.last, out + o);
      size_t q = o + head;
      for (int c = 0; c < keep; q += ch.stream_len[c], s += ch.stream_len[c], c++) memcpy(out + q, s, ch.stream_len[c]);
      for (int c = keep; c < h->keep; c++) s += ch.stream_len[c];
      memcpy(out + q, s, detail);
      memcpy(out + q + detail, s + had, env);
      wl_put32(out + q + detail + env, wl_crc32(0, out + o, head + body));
    }
    o += head + body + 4;
    pos += need;
  }
  if (out) {
    memcpy(out + o, buf + pos, 10);
    wl_put32(out + o + 10, wl_crc32(0, out, o + 10));
  }
  *outlen = o + WL_END_LEN;
  return 0;
}

/* The bytes a sized target (WL_TARGET_BYTES or WL_TARGET_KBPS) allows a clip of that many seconds. */
static double most_bytes(int target, double value, double seconds) {
  return target == WL_TARGET_BYTES ? value : value * 1000 / 8 * seconds;
}

/* Reads and checks an audio stream's header and records. */
static int read_audio(const uint8_t *buf, size_t len, wl_header *h) {
  WL_TRY(wl_header_read(buf, len, h));
  return h->modality == WL_MODALITY_AUDIO ? 0 : WL_FAIL_WHY(WL_ERR_ARG, "not an audio stream");
}

int wl_audio_truncate(const uint8_t *buf, size_t len, int keep, uint8_t **out, size_t *outlen) {
  if (!out || !outlen) return WL_FAIL_NULL();
  wl_header h;
  *out = NULL;
  *outlen = 0;
  WL_TRY(read_audio(buf, len, &h));
  if (keep < 1 || keep > h.keep) return WL_FAIL_WHY(WL_ERR_ARG, "keep %d: 1 to the stream's %d", keep, h.keep);
  size_t n;
  WL_TRY(cut(buf, len, &h, keep, NULL, &n, NULL));
  uint8_t *b = malloc(n);
  if (!b) return WL_FAIL(WL_ERR_NOMEM);
  int e = cut(buf, len, &h, keep, b, outlen, NULL);
  if (e) free(b);
  else *out = b;
  return e;
}

int wl_audio_target_keep(const uint8_t *buf, size_t len, int target, double value, int *keep) {
  if (!keep) return WL_FAIL_NULL();
  wl_header h;
  size_t n;
  *keep = 0;
  WL_TRY(read_audio(buf, len, &h));
  if ((target != WL_TARGET_BYTES && target != WL_TARGET_KBPS) || !(value > 0))
    return WL_FAIL_WHY(WL_ERR_ARG, "an audio target is bytes or kbps, above 0");
  uint64_t *bytes = malloc(sizeof *bytes * (size_t)h.keep);
  if (!bytes) return WL_FAIL(WL_ERR_NOMEM);
  int e = cut(buf, len, &h, h.keep, NULL, &n, bytes);
  const double most = most_bytes(target, value, (double)h.frames / h.rate);
  for (int k = 0; !e && k < h.keep; k++)
    if ((double)bytes[k] <= most) *keep = k + 1;
  if (!e && !*keep)
    e = target == WL_TARGET_BYTES
            ? WL_FAIL_WHY(WL_ERR_ARG, "%.0f bytes is below the one-channel stream's %llu", value, (unsigned long long)bytes[0])
            : WL_FAIL_WHY(WL_ERR_ARG, "%g kbps is below the one-channel stream's %.2f", value,
                          8.0 * (double)bytes[0] / ((double)h.frames / h.rate) / 1000);
  free(bytes);
  return e;
}

/* The stream at rung r of the ladder (opts: chunk and nofill), in *out; full: the B-channel
 * stream without a detail layer, to cut rungs r <= B from. */
static int rung(const wl_model *m, const wl_audio *a, const wl_encode_opts *base, const uint8_t *full, size_t nfull,
                int r, uint8_t **out, size_t *len) {
  const int B = wl_audio_ladder_base(m);
  if (r <= B) return wl_audio_truncate(full, nfull, r, out, len);
  wl_encode_opts o = *base;
  o.keep = B;
  o.step = r - B;
  return wl_encode_audio(m, a, &o, out, len);
}

/* SNR in dB of stream buf decoded, against a (as walloc eval computes it). */
static int snr_of(const wl_model *m, const wl_audio *a, const uint8_t *buf, size_t len, double *snr) {
  wl_audio y;
  WL_TRY(wl_decode_audio(m, buf, len, &y));
  double sx = 0, se = 0;
  for (long i = 0; i < (long)a->channels * a->frames; i++) {
    const double d = (double)a->samples[i] - y.samples[i];
    sx += (double)a->samples[i] * a->samples[i];
    se += d * d;
  }
  wl_audio_release(&y);
  *snr = se > 0 ? 10 * log10(sx / se) : INFINITY;
  return 0;
}

/* Whether rung r's stream (len bytes; decoded when the target is SNR) meets the target. */
static int meets(const wl_model *m, const wl_audio *a, int target, double value, const uint8_t *buf, size_t len,
                 int *ok) {
  if (target != WL_TARGET_SNR) {
    *ok = (double)len <= most_bytes(target, value, (double)a->frames / a->rate);
    return 0;
  }
  double snr;
  WL_TRY(snr_of(m, a, buf, len, &snr));
  *ok = snr >= value;
  return 0;
}

/* A candidate stream b (n bytes): *ok whether it meets the target; if so it replaces *best,
 * else it is freed. */
static int keep_if_meets(const wl_model *m, const wl_audio *a, int target, double value, uint8_t *b, size_t n,
                         uint8_t **best, size_t *nbest, int *ok) {
  const int e = meets(m, a, target, value, b, n, ok);
  if (!e && *ok) {
    free(*best);
    *best = b, *nbest = n;
  } else {
    free(b);
  }
  return e;
}

/* keep channels with a detail layer of step s, kept in *best if it meets the target (*ok). */
static int try_step(const wl_model *m, const wl_audio *a, const wl_encode_opts *base, int keep, int s, int target,
                    double value, uint8_t **best, size_t *nbest, int *ok) {
  wl_encode_opts o = *base;
  uint8_t *b;
  size_t n;
  o.keep = keep;
  o.step = s;
  WL_TRY(wl_encode_audio(m, a, &o, &b, &n));
  return keep_if_meets(m, a, target, value, b, n, best, nbest, ok);
}

/* Whether stream buf decodes to a's samples exactly, once rounded to integers of a's depth as a
 * file of it holds them. */
static int exact_of(const wl_model *m, const wl_audio *a, const uint8_t *buf, size_t len, int *exact) {
  wl_audio y;
  WL_TRY(wl_decode_audio(m, buf, len, &y));
  const double top = ldexp(1, a->depth - 1) - 1, bottom = -ldexp(1, a->depth - 1);
  *exact = 1;
  for (long i = 0; *exact && i < (long)a->channels * a->frames; i++) {
    const double v = nearbyint((double)y.samples[i]);
    *exact = (v > top ? top : v < bottom ? bottom : v) == (double)a->samples[i];
  }
  wl_audio_release(&y);
  return 0;
}

/* A sized target whose budget holds the finest step (rung *r, the ladder's top) can be past the
 * point where the clip decodes exactly: then the coarsest rung that does, found by halving on
 * decodes (finer ones do too), replaces *best (10 s of silence at --kbps 8: the top made 2119 bytes,
 * one channel 91), and *exact says so. Only at the top: elsewhere it would cost a decode of
 * every answer. */
static int exact_floor(const wl_model *m, const wl_audio *a, const wl_encode_opts *base, const uint8_t *full,
                       size_t nfull, int *r, uint8_t **best, size_t *nbest, int *exact) {
  WL_TRY(exact_of(m, a, *best, *nbest, exact));
  if (!*exact) return 0;
  int lo = 0, hi = *r, e = 0; /* a rung not known exact (0: none), the coarsest known exact */
  while (!e && hi - lo > 1) {
    const int mid = (lo + hi) / 2;
    uint8_t *b;
    size_t n;
    if ((e = rung(m, a, base, full, nfull, mid, &b, &n))) break;
    int ok = 0;
    if (!(e = exact_of(m, a, b, n, &ok)) && ok) {
      free(*best);
      *best = b, *nbest = n, hi = mid;
    } else {
      free(b);
      lo = mid;
    }
  }
  *r = hi;
  return e;
}

int wl_encode_audio_target(const wl_model *m, const wl_audio *a, int target, double value, const wl_encode_opts *opts,
                           wl_encode_opts *chosen, uint8_t **out, size_t *outlen) {
  if (!m || !a || !chosen || !out || !outlen) return WL_FAIL_NULL();
  const int B = wl_audio_ladder_base(m), top = B + WL_MAX_STEP, sized = target != WL_TARGET_SNR;
  wl_encode_opts base = opts ? *opts : (wl_encode_opts){0};
  *out = NULL;
  *outlen = 0;
  if ((target != WL_TARGET_BYTES && target != WL_TARGET_KBPS && target != WL_TARGET_SNR) || !(value > 0) ||
      base.keep || base.step)
    return WL_FAIL_WHY(WL_ERR_ARG, "an audio target is bytes, kbps or SNR, above 0, without keep or step");
  WL_TRY(wl_audio_check(a));
  uint8_t *full, *best = NULL, *b;
  size_t nfull, nbest = 0, n;
  base.keep = B;
  WL_TRY(wl_encode_audio(m, a, &base, &full, &nfull));
  base.keep = 0;
  /* lo meets the target (sized: the largest that does; SNR: the smallest), hi does not */
  int lo = top + 1, hi = 0, ok, e = 0, keep; /* SNR: the sentinels, top + 1 meets and 0 fails */
  if (sized) { /* channels exactly from the cut sizes; then steps, if every channel fits */
    e = wl_audio_target_keep(full, nfull, target, value, &keep);
    lo = keep, hi = keep < B ? keep + 1 : top + 1;
  }
  /* halving between a rung that fails and one that meets */
  while (!e && (sized ? hi - lo > 1 : lo - hi > 1)) {
    const int r = (lo + hi) / 2;
    if ((e = rung(m, a, &base, full, nfull, r, &b, &n)) ||
        (e = keep_if_meets(m, a, target, value, b, n, &best, &nbest, &ok)))
      break;
    *(ok ? &lo : &hi) = r;
  }
  if (!e && sized && lo < 1)
    e = WL_FAIL_WHY(WL_ERR_ARG, "%g %s is out of reach: one channel alone takes more", value,
                    target == WL_TARGET_BYTES ? "bytes" : "kbps");
  if (!e && !sized && lo > top) e = WL_FAIL_WHY(WL_ERR_ARG, "SNR %g dB is out of reach: not even the finest step reaches it", value);
  if (!e && !best) e = rung(m, a, &base, full, nfull, lo, &best, &nbest);
  int exact = 0; /* the answer decodes exactly (exact_floor) */
  if (!e && sized && lo == top) e = exact_floor(m, a, &base, full, nfull, &lo, &best, &nbest, &exact);
  free(full);
  /* channels alone that land more than GAP under a size, the next channel over it (a held-out
   * track: 11 channels 5.2% under 12 kbps): detail steps on those channels fill the gap, the
   * largest that fits found by halving (steps 0, the channels alone, to WL_MAX_STEP + 1), then
   * one step at a time while the next fits (a step more can take a few bytes fewer) */
  int step = 0;
  const double most = sized ? most_bytes(target, value, (double)a->frames / a->rate) : 0;
  if (!e && sized && !exact && lo < B && (double)nbest < (1 - GAP) * most) {
    for (int shi = WL_MAX_STEP + 1; !e && shi - step > 1;) {
      const int s = (step + shi) / 2;
      if (!(e = try_step(m, a, &base, lo, s, target, value, &best, &nbest, &ok))) *(ok ? &step : &shi) = s;
    }
    for (ok = 1; !e && ok && step < WL_MAX_STEP;)
      if (!(e = try_step(m, a, &base, lo, step + 1, target, value, &best, &nbest, &ok)) && ok) step++;
  }
  if (e) {
    free(best);
    return e;
  }
  *chosen = base;
  chosen->keep = lo <= B ? lo : B;
  chosen->step = lo <= B ? step : lo - B;
  *out = best;
  *outlen = nbest;
  return 0;
}
