/* sound.c: audio files <-> wl_audio through libsndfile's virtual I/O over memory buffers.
 * Samples travel as doubles: with libsndfile's normalisation off, integer PCM (WAV, FLAC)
 * reads and writes as its exact integer values, so depth and samples round-trip exactly. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sndfile.h>
#include "cli/sound.h"

#define CHUNK 4096 /* frames per libsndfile read or write call */

/* A memory file: reads from rbuf[0..len); writes grow wbuf (and point rbuf at it). */
typedef struct { const uint8_t *rbuf; uint8_t *wbuf; size_t len, cap; sf_count_t pos; } vio;

static sf_count_t v_len(void *u) { return (sf_count_t)((vio *)u)->len; }
static sf_count_t v_tell(void *u) { return ((vio *)u)->pos; }

static sf_count_t v_seek(sf_count_t off, int whence, void *u) {
  vio *v = u;
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? v->pos : (sf_count_t)v->len;
  if (base + off < 0) return -1;
  return v->pos = base + off;
}

static sf_count_t v_read(void *p, sf_count_t n, void *u) {
  vio *v = u;
  sf_count_t left = v->pos < (sf_count_t)v->len ? (sf_count_t)v->len - v->pos : 0;
  if (n > left) n = left;
  if (n > 0) memcpy(p, v->rbuf + v->pos, (size_t)n);
  v->pos += n > 0 ? n : 0;
  return n > 0 ? n : 0;
}

static sf_count_t v_write(const void *p, sf_count_t n, void *u) {
  vio *v = u;
  const size_t end = (size_t)v->pos + (size_t)n;
  if (end > v->cap) {
    size_t cap = v->cap ? v->cap : 1 << 16;
    while (cap < end) cap *= 2;
    uint8_t *nb = realloc(v->wbuf, cap);
    if (!nb) return 0;
    v->rbuf = v->wbuf = nb;
    v->cap = cap;
  }
  if ((size_t)v->pos > v->len) memset(v->wbuf + v->len, 0, (size_t)v->pos - v->len);
  memcpy(v->wbuf + v->pos, p, (size_t)n);
  v->pos += n;
  if (end > v->len) v->len = end;
  return n;
}

static int fail(char *why, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(why, SND_WHY, fmt, ap);
  va_end(ap);
  return -1;
}

static uint32_t le32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

int snd_is_audio(const uint8_t *b, size_t len) {
  static const char *const tag[] = {"fLaC", "OggS", "FORM", ".snd", "caff", "ID3"};
  if (len >= 12 && (!memcmp(b, "RIFF", 4) || !memcmp(b, "RIFX", 4) || !memcmp(b, "RF64", 4)))
    return !memcmp(b + 8, "WAVE", 4);
  for (size_t i = 0; i < sizeof tag / sizeof *tag; i++)
    if (len >= 4 && !memcmp(b, tag[i], strlen(tag[i]))) return 1;
  return 0;
}

/* True when the data chunk of a RIFF WAVE file declares more bytes than the file holds:
 * libsndfile would read such a file silently shorter. Sizes 0 and 0xFFFFFFFF mean "unknown"
 * (WAV streamed through a pipe) and pass. */
static int wav_truncated(const uint8_t *b, size_t len) {
  if (len < 12 || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4)) return 0;
  for (size_t p = 12; p + 8 <= len;) {
    const uint32_t size = le32(b + p + 4);
    if (!memcmp(b + p, "data", 4)) return size != 0 && size != 0xffffffffu && size > len - p - 8;
    p += 8 + (size_t)size + (size & 1);
  }
  return 0;
}

/* Bits of an integer PCM subtype; 0 for anything else. */
static int pcm_depth(int sub) {
  return sub == SF_FORMAT_PCM_S8 || sub == SF_FORMAT_PCM_U8 ? 8 : sub == SF_FORMAT_PCM_16 ? 16
         : sub == SF_FORMAT_PCM_24 ? 24 : sub == SF_FORMAT_PCM_32 ? 32 : 0;
}

/* Reads all T frames of f into a->samples [C][T]. Exact PCM (norm off) is stored as read;
 * other subtypes arrive normalised to [-1, 1] and are scaled to 16-bit integers. */
static int read_samples(SNDFILE *f, int exact, wl_audio *a, char *why) {
  const int C = a->channels;
  const long T = a->frames;
  double *ibuf = malloc(sizeof(double) * CHUNK * (size_t)C);
  a->samples = malloc(sizeof(float) * (size_t)C * (size_t)T);
  if (!ibuf || !a->samples) { free(ibuf); return fail(why, "out of memory"); }
  long t = 0;
  while (t < T) {
    sf_count_t n = sf_readf_double(f, ibuf, T - t < CHUNK ? T - t : CHUNK);
    if (n <= 0) break;
    for (sf_count_t i = 0; i < n; i++)
      for (int c = 0; c < C; c++) {
        double v = ibuf[i * C + c];
        if (!exact) v = fmin(fmax(rint(v * 32768.0), -32768.0), 32767.0);
        a->samples[(size_t)c * T + t + i] = (float)v;
      }
    t += (long)n;
  }
  free(ibuf);
  if (t < T) return fail(why, "truncated or corrupt audio: only %ld of %ld frames decode (%s)", t, T, sf_strerror(f));
  return 0;
}

int snd_decode(const uint8_t *buf, size_t len, wl_audio *a, int *known, char *why) {
  memset(a, 0, sizeof *a);
  /* Only bytes that start like audio go to libsndfile: its MPEG probe would take (and print
   * warnings about) arbitrary data. */
  if (!(*known = snd_is_audio(buf, len))) return fail(why, "not audio");
  vio v = {.rbuf = buf, .len = len};
  SF_VIRTUAL_IO io = {v_len, v_seek, v_read, NULL, v_tell};
  SF_INFO info = {0};
  SNDFILE *f = sf_open_virtual(&io, SFM_READ, &info, &v);
  if (!f) return fail(why, "invalid or truncated audio: %s", sf_strerror(NULL));
  const int sub = info.format & SF_FORMAT_SUBMASK, depth = pcm_depth(sub);
  int rc = 0;
  if (sub == SF_FORMAT_FLOAT || sub == SF_FORMAT_DOUBLE)
    rc = fail(why, "floating-point samples are not supported (convert to integer PCM, e.g. 24-bit)");
  else if (info.channels < 1 || info.channels > WL_MAX_CHANNELS)
    rc = fail(why, "%d channels; walloc takes 1 to %d", info.channels, WL_MAX_CHANNELS);
  else if (info.samplerate < 1) rc = fail(why, "invalid sample rate %d", info.samplerate);
  else if (info.frames < 1) rc = fail(why, "no audio samples");
  else if (info.frames > WL_MAX_FRAMES || info.frames * info.channels > WL_MAX_SAMPLES)
    rc = fail(why, "%lld frames of %d channel(s): over the limit of %ld samples", (long long)info.frames,
              info.channels, (long)WL_MAX_SAMPLES);
  else if (wav_truncated(buf, len)) rc = fail(why, "truncated WAV: its data chunk is longer than the file");
  if (!rc) {
    a->channels = info.channels;
    a->frames = (long)info.frames;
    a->rate = info.samplerate;
    a->depth = depth ? depth : 16;
    if (depth) sf_command(f, SFC_SET_NORM_DOUBLE, NULL, SF_FALSE);
    rc = read_samples(f, depth != 0, a, why);
  }
  sf_close(f);
  if (rc) wl_audio_release(a);
  return rc;
}

/* Writes the samples of a to f, CHUNK frames at a time, interleaved, as integers. */
static int write_samples(SNDFILE *f, const wl_audio *a, char *why) {
  const int C = a->channels;
  const long T = a->frames;
  double *obuf = malloc(sizeof(double) * CHUNK * (size_t)C);
  if (!obuf) return fail(why, "out of memory");
  const double lo = -ldexp(1.0, a->depth - 1), hi = -lo - 1;
  int rc = 0;
  for (long t = 0; t < T && !rc; t += CHUNK) {
    const long n = T - t < CHUNK ? T - t : CHUNK;
    for (long i = 0; i < n; i++)
      for (int c = 0; c < C; c++) obuf[i * C + c] = fmin(fmax(rint(a->samples[(size_t)c * T + t + i]), lo), hi);
    if (sf_writef_double(f, obuf, n) != n) rc = fail(why, "cannot encode audio: %s", sf_strerror(f));
  }
  free(obuf);
  return rc;
}

int snd_encode(const wl_audio *a, int flac, uint8_t **out, size_t *outlen, char *why) {
  const int sub = a->depth == 8 ? (flac ? SF_FORMAT_PCM_S8 : SF_FORMAT_PCM_U8) : a->depth == 16 ? SF_FORMAT_PCM_16
                  : a->depth == 24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_32;
  SF_INFO info = {.samplerate = a->rate, .channels = a->channels, .format = (flac ? SF_FORMAT_FLAC : SF_FORMAT_WAV) | sub};
  *out = NULL;
  if (!sf_format_check(&info))
    return fail(why, "%s cannot hold %d-bit samples%s", flac ? "FLAC" : "WAV", a->depth, flac ? " (write .wav)" : "");
  vio v = {0};
  SF_VIRTUAL_IO io = {v_len, v_seek, v_read, v_write, v_tell};
  SNDFILE *f = sf_open_virtual(&io, SFM_WRITE, &info, &v);
  if (!f) { free(v.wbuf); return fail(why, "cannot encode %s: %s", flac ? "FLAC" : "WAV", sf_strerror(NULL)); }
  sf_command(f, SFC_SET_NORM_DOUBLE, NULL, SF_FALSE);
  sf_command(f, SFC_SET_CLIPPING, NULL, SF_TRUE);
  int rc = write_samples(f, a, why);
  if (sf_close(f) && !rc) rc = fail(why, "cannot encode %s", flac ? "FLAC" : "WAV");
  if (rc) { free(v.wbuf); return rc; }
  *out = v.wbuf;
  *outlen = v.len;
  return 0;
}
