/* sound.c: audio files through libsndfile, a block at a time (sound.h). Samples travel as
 * doubles (16-bit PCM read as shorts): with libsndfile's normalisation off, integer PCM (WAV,
 * FLAC) reads and writes as its exact integer values, so depth and samples round-trip exactly.
 * libsndfile reads a regular file by its descriptor; a pipe through its pipe reader, fed by a
 * thread that first replays the bytes io_open looked at (libsndfile must see the stream from its
 * start); FLAC, CAF and RF64, which that reader cannot take, and nothing else, are read into
 * memory first (virtual I/O). */
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <sndfile.h>
#include "cli/sound.h"

/* libsndfile virtual I/O: a memory file read from rbuf[0..len), or an output whose header is
 * held in wbuf until `out` is set, then passes everything on to out (which cannot seek: later
 * rewrites of bytes already sent are dropped). */
typedef struct {
  const uint8_t *rbuf;
  uint8_t *wbuf;
  size_t len, cap;
  sf_count_t pos, sent;
  io_output *out;
} vio;

static sf_count_t v_len(void *u) { vio *v = u; return v->out ? v->sent : (sf_count_t)v->len; }
static sf_count_t v_tell(void *u) { return ((vio *)u)->pos; }

static sf_count_t v_seek(sf_count_t off, int whence, void *u) {
  vio *v = u;
  sf_count_t base = whence == SEEK_SET ? 0 : whence == SEEK_CUR ? v->pos : v_len(v);
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
  if (v->out) {
    if (v->pos + n <= v->sent) { v->pos += n; return n; } /* a rewrite of the header: sent already */
    if (v->pos != v->sent || io_out_write(v->out, p, (size_t)n)) return 0;
    v->pos = v->sent += n;
    return n;
  }
  const size_t end = (size_t)v->pos + (size_t)n;
  if (end > v->cap) {
    size_t cap = v->cap ? v->cap : 1 << 12;
    while (cap < end) cap *= 2;
    uint8_t *nb = realloc(v->wbuf, cap);
    if (!nb) return 0;
    v->wbuf = nb;
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
  static const uint8_t w64[16] = {'r', 'i', 'f', 'f', 0x2e, 0x91, 0xcf, 0x11, 0xa5, 0xd6, 0x28, 0xdb, 0x04, 0xc1, 0, 0};
  if (len >= 12 && (!memcmp(b, "RIFF", 4) || !memcmp(b, "RIFX", 4) || !memcmp(b, "RF64", 4)))
    return !memcmp(b + 8, "WAVE", 4);
  if (len >= 16 && !memcmp(b, w64, 16)) return 1; /* Sony Wave64: the GUID of "riff" */
  for (size_t i = 0; i < sizeof tag / sizeof *tag; i++)
    if (len >= 4 && !memcmp(b, tag[i], strlen(tag[i]))) return 1;
  return 0;
}

/* Formats libsndfile's pipe reader takes whole (FLAC, CAF and RF64 fail or lose frames). */
static int pipe_readable(const uint8_t *b, size_t len) {
  return len >= 12 && ((!memcmp(b, "RIFF", 4) && !memcmp(b + 8, "WAVE", 4)) || !memcmp(b, "OggS", 4) ||
                       !memcmp(b, "FORM", 4) || !memcmp(b, ".snd", 4));
}

/* Whether the pipe that libsndfile read from still holds bytes (waiting for the feeder). */
static int more_in_pipe(int fd) {
  uint8_t b;
  ssize_t n;
  do n = read(fd, &b, 1);
  while (n < 0 && errno == EINTR);
  return n > 0;
}

/* Offset of the data chunk's size field in a RIFF WAVE head b[0..len), or 0 when not there. */
static size_t wav_data_field(const uint8_t *b, size_t len) {
  if (len < 12 || memcmp(b, "RIFF", 4) || memcmp(b + 8, "WAVE", 4)) return 0;
  for (size_t p = 12; p + 8 <= len;) {
    const uint32_t size = le32(b + p + 4);
    if (!memcmp(b + p, "data", 4)) return p + 4;
    p += 8 + (size_t)size + (size & 1);
  }
  return 0;
}

/* Sizes 0 and 0xFFFFFFFF in a WAV's data chunk mean "to the end" (WAV streamed through a pipe);
 * on a pipe, so do the placeholders of recorders that cannot know the length (arecord writes
 * 0x7FFFFFFF, others 0x7FFFF000): any size from 0x7FFF0000 up. */
static int wav_unsized(const uint8_t *b, size_t len, int pipe) {
  const size_t at = wav_data_field(b, len);
  const uint32_t size = at ? le32(b + at) : 1;
  return size == 0 || size == 0xffffffffu || (pipe && size >= 0x7fff0000u);
}

/* An AU (Sun .snd) head whose data size is 0xFFFFFFFF, "unknown": libsndfile then states a length
 * of its own far past the data. */
static int au_unsized(const uint8_t *b, size_t len) {
  return len >= 12 && !memcmp(b, ".snd", 4) && !memcmp(b + 8, "\xff\xff\xff\xff", 4);
}

/* True when the data chunk of a WAV of `total` bytes declares more than the file holds:
 * libsndfile would read such a file silently shorter. */
static int wav_truncated(const uint8_t *b, size_t len, long long total) {
  const size_t at = wav_data_field(b, len);
  return at && !wav_unsized(b, len, 0) && total >= 0 && le32(b + at) > total - (long long)at - 4;
}

/* Bits of an integer PCM subtype; 0 for anything else. */
static int pcm_depth(int sub) {
  return sub == SF_FORMAT_PCM_S8 || sub == SF_FORMAT_PCM_U8 ? 8 : sub == SF_FORMAT_PCM_16 ? 16
         : sub == SF_FORMAT_PCM_24 ? 24 : sub == SF_FORMAT_PCM_32 ? 32 : 0;
}

/* ---- reading --------------------------------------------------------------------------- */

struct snd_reader {
  SNDFILE *f;
  wl_audio fmt;
  int exact;           /* integer PCM, read as its integers (otherwise [-1, 1] scaled to 16-bit) */
  int shorts;          /* 16-bit PCM, read as libsndfile's shorts: the same integers, a quarter of the bytes */
  int estimated;       /* Vorbis, Opus, MPEG: the header's length is an estimate */
  int riff;            /* a RIFF WAVE: one of unstated length ends where libsndfile stops, at 4 GiB */
  long long declared;  /* the header's length; -1 when it states none */
  long long got;       /* frames read */
  double *ibuf;        /* (SND_BLOCK, C) as libsndfile gives them (shorts: as short) */
  float *block;        /* (C, SND_BLOCK) */
  vio v;               /* a memory file (read whole) */
  uint8_t *mem;
  int pipe_rd, pipe_wr; /* a pipe fed by `feeder` */
  pthread_t feeder;
  int feeding;
  io_input *in;
};

static void close_fd(void *fd) { close(*(int *)fd); }

/* The feeder thread: copies the input (its head first) into the pipe libsndfile reads, and
 * closes the pipe at the end. snd_close cancels it when libsndfile stops early. */
static void *feed(void *arg) {
  snd_reader *r = arg;
  io_output to = {.fd = r->pipe_wr};
  uint8_t buf[1 << 16];
  sigset_t s;
  sigemptyset(&s);
  sigaddset(&s, SIGPIPE);
  pthread_sigmask(SIG_BLOCK, &s, NULL);
  pthread_cleanup_push(close_fd, &r->pipe_wr);
  for (ssize_t n; (n = io_read(r->in, buf, sizeof buf)) > 0;)
    if (io_out_write(&to, buf, (size_t)n)) break;
  pthread_cleanup_pop(1);
  return NULL;
}

void snd_close(snd_reader *r) {
  if (!r) return;
  if (r->f) sf_close(r->f);
  if (r->feeding) {
    pthread_cancel(r->feeder);
    pthread_join(r->feeder, NULL);
  }
  if (r->pipe_rd >= 0) close(r->pipe_rd);
  free(r->mem); free(r->ibuf); free(r->block);
  free(r);
}

/* Opens libsndfile on in: the file itself, a fed pipe, or the input read into memory. */
static SNDFILE *open_source(snd_reader *r, io_input *in, SF_INFO *info, long long *size) {
  static SF_VIRTUAL_IO io = {v_len, v_seek, v_read, NULL, v_tell};
  int fds[2];
  size_t len;
  const size_t at = wav_data_field(in->head, in->nhead);
  /* data size 0 or 0xFFFFFFFF: to the end. libsndfile reads 0 as none, and stops after 4 GiB at
   * either: read as a pipe, so that snd_read can tell whether more follows */
  const int to_end = at && (!le32(in->head + at) || le32(in->head + at) == 0xffffffffu);
  *size = in->size;
  if (in->size >= 0 && !to_end) return sf_open_fd(in->fd, SFM_READ, info, SF_FALSE);
  if (pipe_readable(in->head, in->nhead)) { /* a pipe, or a file read as one (to_end: as a pipe reads it) */
    if (to_end) memset(in->head + at, 0xff, 4);
    if (to_end && in->size >= 0) { /* the feeder gives the patched head, then the rest of the file */
      if (lseek(in->fd, in->start + (off_t)in->nhead, SEEK_SET) < 0) return NULL;
      in->hpos = 0;
    }
    if (pipe(fds)) return NULL;
    r->pipe_rd = fds[0];
    r->pipe_wr = fds[1];
    r->in = in;
    if (pthread_create(&r->feeder, NULL, feed, r)) { close(fds[1]); return NULL; }
    r->feeding = 1;
    return sf_open_fd(r->pipe_rd, SFM_READ, info, SF_FALSE);
  }
  if (io_read_rest(in, &r->mem, &len)) return NULL;
  r->v = (vio){.rbuf = r->mem, .len = len};
  *size = (long long)len;
  return sf_open_virtual(&io, SFM_READ, info, &r->v);
}

int snd_open(io_input *in, snd_reader **rp, wl_audio *fmt, char *why) {
  SF_INFO info = {0};
  long long size;
  snd_reader *r = *rp = calloc(1, sizeof *r);
  if (!r) return fail(why, "out of memory");
  r->pipe_rd = -1;
  /* Only bytes that start like audio go to libsndfile: its MPEG probe would take (and print
   * warnings about) arbitrary data. */
  if (!snd_is_audio(in->head, in->nhead)) { snd_close(r); return fail(why, "not audio"); }
  r->f = open_source(r, in, &info, &size);
  const int sub = info.format & SF_FORMAT_SUBMASK, depth = pcm_depth(sub);
  int rc = 0;
  if (!r->f) rc = fail(why, "invalid or truncated audio: %s", sf_strerror(NULL));
  else if (sub == SF_FORMAT_FLOAT || sub == SF_FORMAT_DOUBLE)
    rc = fail(why, "floating-point samples are not supported (convert to integer PCM, e.g. 24-bit)");
  else if (info.channels < 1 || info.channels > WL_MAX_CHANNELS)
    rc = fail(why, "%d channels; walloc takes 1 to %d", info.channels, WL_MAX_CHANNELS);
  else if (info.samplerate < 1) rc = fail(why, "invalid sample rate %d", info.samplerate);
  else if (wav_truncated(in->head, in->nhead, size))
    rc = fail(why, "truncated WAV: its data chunk is longer than the file");
  if (!rc) {
    r->fmt = (wl_audio){info.channels, 0, info.samplerate, depth ? depth : 16, NULL};
    r->exact = depth != 0;
    r->shorts = depth == 16;
    r->riff = wav_data_field(in->head, in->nhead) != 0;
    r->estimated = sub == SF_FORMAT_VORBIS || sub == SF_FORMAT_OPUS || sub == SF_FORMAT_MPEG_LAYER_I ||
                   sub == SF_FORMAT_MPEG_LAYER_II || sub == SF_FORMAT_MPEG_LAYER_III;
    const int unsized =
        info.frames == SF_COUNT_MAX || wav_unsized(in->head, in->nhead, in->size < 0) || au_unsized(in->head, in->nhead);
    r->declared = unsized ? -1 : (long long)info.frames;
    if (depth) sf_command(r->f, SFC_SET_NORM_DOUBLE, NULL, SF_FALSE);
    r->ibuf = malloc(sizeof(double) * SND_BLOCK * (size_t)info.channels);
    r->block = malloc(sizeof(float) * SND_BLOCK * (size_t)info.channels);
    if (!r->ibuf || !r->block) rc = fail(why, "out of memory");
  }
  if (rc) { snd_close(r); *rp = NULL; return rc; }
  *fmt = r->fmt;
  return 0;
}

/* C channels of n interleaved shorts into rows of n floats (one and two in vector loops). */
static void deinterleave16(float *out, const short *in, sf_count_t n, int C) {
  if (C == 1) {
#pragma omp simd
    for (sf_count_t i = 0; i < n; i++) out[i] = (float)in[i];
  } else if (C == 2) {
    float *out1 = out + n;
#pragma omp simd
    for (sf_count_t i = 0; i < n; i++) out[i] = (float)in[2 * i], out1[i] = (float)in[2 * i + 1];
  } else {
    for (int c = 0; c < C; c++)
      for (sf_count_t i = 0; i < n; i++) out[c * n + i] = (float)in[i * C + c];
  }
}

int snd_read(snd_reader *r, wl_audio *b, char *why) {
  const int C = r->fmt.channels;
  sf_count_t n = r->shorts ? sf_readf_short(r->f, (short *)r->ibuf, SND_BLOCK) : sf_readf_double(r->f, r->ibuf, SND_BLOCK);
  *b = r->fmt;
  b->samples = r->block;
  if (n <= 0) {
    if (sf_error(r->f)) return fail(why, "corrupt audio after %lld frames (%s)", r->got, sf_strerror(r->f));
    if (!r->got) return fail(why, "no audio samples");
    if (!r->estimated && r->declared > r->got)
      return fail(why, "truncated or corrupt audio: only %lld of %lld frames decode", r->got, r->declared);
    if (r->riff && r->declared < 0 && r->feeding && more_in_pipe(r->pipe_rd))
      return fail(why, "a WAV of unstated length goes on past %lld frames, the most its 32-bit sizes can hold "
                       "(RF64, Wave64 and FLAC have no such limit)", r->got);
    return 0;
  }
  if (r->shorts) deinterleave16(r->block, (const short *)r->ibuf, n, C);
  else
    for (int c = 0; c < C; c++) {
      const double *in = r->ibuf + c;
      float *out = r->block + c * n;
      if (r->exact) /* integers already */
        for (sf_count_t i = 0; i < n; i++) out[i] = (float)in[i * C];
      else
        for (sf_count_t i = 0; i < n; i++) out[i] = (float)fmin(fmax(rint(in[i * C] * 32768.0), -32768.0), 32767.0);
    }
  b->frames = (long)n;
  r->got += n;
  return 0;
}

long long snd_declared(const snd_reader *r) { return r->declared >= 0 && r->declared != r->got ? r->declared : -1; }

/* Rows of *cap frames (frames of them used) -> rows of twice as many, at most `most`. */
static int grow(wl_audio *a, long *cap, long most) {
  const long grown = *cap > most / 2 ? most : 2 * *cap;
  float *s = malloc(sizeof(float) * (size_t)a->channels * (size_t)grown);
  if (!s) return -1;
  for (int c = 0; c < a->channels; c++) memcpy(s + c * grown, a->samples + c * *cap, sizeof(float) * (size_t)a->frames);
  free(a->samples);
  a->samples = s;
  *cap = grown;
  return 0;
}

int snd_read_all(snd_reader *r, wl_audio *a, char *why) {
  const int C = r->fmt.channels;
  const long most = WL_MAX_SAMPLES / C < WL_MAX_FRAMES ? WL_MAX_SAMPLES / C : WL_MAX_FRAMES;
  /* room for what the header declares, up to 2^20 frames: a 40-byte header that claims 2^30
   * samples must not reserve 4 GB; longer inputs grow as they arrive */
  long cap = r->declared > 0 && r->declared <= most ? (long)r->declared : 1 << 16;
  if (cap > 1L << 20) cap = 1L << 20;
  wl_audio b;
  int rc = 0;
  *a = r->fmt;
  if (!(a->samples = malloc(sizeof(float) * (size_t)C * (size_t)cap))) return fail(why, "out of memory");
  while (!(rc = snd_read(r, &b, why)) && b.frames) {
    if (a->frames > most - b.frames) {
      rc = fail(why, "over %ld frames of %d channel(s): too long to hold in memory", most, C);
      break;
    }
    if (a->frames + b.frames > cap && grow(a, &cap, most)) {
      rc = fail(why, "out of memory");
      break;
    }
    for (int c = 0; c < C; c++)
      memcpy(a->samples + c * cap + a->frames, b.samples + c * b.frames, sizeof(float) * (size_t)b.frames);
    a->frames += b.frames;
  }
  if (rc) { wl_audio_release(a); return rc; }
  for (int c = 1; c < C; c++) memmove(a->samples + c * a->frames, a->samples + c * cap, sizeof(float) * (size_t)a->frames);
  return 0;
}

/* ---- writing --------------------------------------------------------------------------- */

struct snd_writer {
  SNDFILE *f;
  vio v;           /* stdout */
  double *obuf;    /* (SND_BLOCK, C) */
  double lo, hi;   /* the sample range */
  int flac;
  long long room;  /* frames a WAV file may still take (its 32-bit sizes); -1: no limit */
};

/* Bytes a WAV header may take before its data (libsndfile's extensible format, with room). */
#define WAV_HEAD_MOST 4096

/* Sets the RIFF and data sizes of a WAV header b[0..len) that ends with its data chunk's, for
 * `frames` of `bytes` bytes (-1: unknown, 0xFFFFFFFF). */
static int wav_size(uint8_t *b, size_t len, long long frames, int bytes) {
  const size_t at = wav_data_field(b, len);
  const long long data = frames * bytes;
  const uint32_t d = frames >= 0 && data + (long long)at <= 0xfffffff0LL ? (uint32_t)data : 0xffffffffu;
  if (!at || at + 4 != len) return -1;
  const uint32_t riff = d == 0xffffffffu ? d : (uint32_t)(at + 4 + d - 8 + (d & 1));
  for (int i = 0; i < 4; i++) b[4 + i] = (uint8_t)(riff >> 8 * i), b[at + i] = (uint8_t)(d >> 8 * i);
  return 0;
}

void snd_abandon(snd_writer *sw) {
  if (!sw) return;
  if (sw->f) sf_close(sw->f);
  free(sw->v.wbuf); free(sw->obuf);
  free(sw);
}

int snd_create(io_output *w, const wl_audio *fmt, int flac, long long frames, snd_writer **swp, char *why) {
  static SF_VIRTUAL_IO io = {v_len, v_seek, v_read, v_write, v_tell};
  const int sub = fmt->depth == 8 ? (flac ? SF_FORMAT_PCM_S8 : SF_FORMAT_PCM_U8) : fmt->depth == 16 ? SF_FORMAT_PCM_16
                  : fmt->depth == 24 ? SF_FORMAT_PCM_24 : SF_FORMAT_PCM_32;
  /* A WAV file's 32-bit sizes hold up to 4 GiB of samples: a longer one known up front is written
   * as RF64, one of unknown length fails where it passes them (stdout: sizes 0xFFFFFFFF, "to the
   * end", whatever the length). */
  const long long bpf = (long long)(fmt->depth / 8) * fmt->channels, most = (0xffffffffLL - WAV_HEAD_MOST) / bpf;
  const int rf64 = !flac && w->path && frames > most;
  SF_INFO info = {.samplerate = fmt->rate, .channels = fmt->channels,
                  .format = (flac ? SF_FORMAT_FLAC : rf64 ? SF_FORMAT_RF64 : SF_FORMAT_WAV) | sub};
  const char *kind = flac ? "FLAC" : rf64 ? "RF64" : "WAV";
  snd_writer *sw = *swp = calloc(1, sizeof *sw);
  if (!sw) return fail(why, "out of memory");
  int rc = sf_format_check(&info)                  ? 0
           : flac && fmt->depth > 24                ? fail(why, "FLAC holds at most 24-bit samples, not %d (write .wav)", fmt->depth)
           : flac && fmt->channels > 8              ? fail(why, "FLAC holds at most 8 channels, not %d (write .wav)", fmt->channels)
           : flac                                   ? fail(why, "FLAC cannot hold audio at %d Hz (write .wav)", fmt->rate)
                                                    : fail(why, "WAV cannot hold this audio (%d-bit)", fmt->depth);
  if (!rc && !(sw->obuf = malloc(sizeof(double) * SND_BLOCK * (size_t)fmt->channels))) rc = fail(why, "out of memory");
  if (!rc) sw->f = w->path ? sf_open_fd(w->fd, SFM_WRITE, &info, SF_FALSE) : sf_open_virtual(&io, SFM_WRITE, &info, &sw->v);
  if (!rc && !sw->f) rc = fail(why, "cannot write %s: %s", kind, sf_strerror(NULL));
  if (!rc && !w->path) { /* stdout: send the header with its sizes now; nothing can be rewritten later */
    sw->v.out = w;
    if (wav_size(sw->v.wbuf, sw->v.len, frames, (fmt->depth / 8) * fmt->channels) || io_out_write(w, sw->v.wbuf, sw->v.len))
      rc = fail(why, "cannot write the WAV header: %s", strerror(errno ? errno : EIO));
    sw->v.pos = sw->v.sent = (sf_count_t)sw->v.len;
  }
  if (rc) { snd_abandon(sw); *swp = NULL; return rc; }
  sf_command(sw->f, SFC_SET_NORM_DOUBLE, NULL, SF_FALSE);
  sf_command(sw->f, SFC_SET_CLIPPING, NULL, SF_TRUE);
  sw->lo = -ldexp(1.0, fmt->depth - 1);
  sw->hi = -sw->lo - 1;
  sw->flac = flac;
  sw->room = !flac && !rf64 && w->path ? most : -1;
  return 0;
}

int snd_write(snd_writer *sw, const wl_audio *b, char *why) {
  const int C = b->channels;
  for (long t = 0; t < b->frames; t += SND_BLOCK) {
    const long n = b->frames - t < SND_BLOCK ? b->frames - t : SND_BLOCK;
    if (sw->room >= 0 && (sw->room -= n) < 0)
      return fail(why, "over 4 GiB of samples, more than a WAV holds: decode to .flac, or from a file rather than a "
                       "pipe (walloc then knows the length and writes RF64)");
    for (long i = 0; i < n; i++)
      for (int c = 0; c < C; c++) sw->obuf[i * C + c] = fmin(fmax(rint(b->samples[c * b->frames + t + i]), sw->lo), sw->hi);
    errno = 0;
    if (sf_writef_double(sw->f, sw->obuf, n) != n) /* a write error of our own output's (errno), else libsndfile's */
      return fail(why, "cannot write %s: %s", sw->flac ? "FLAC" : "WAV", errno ? strerror(errno) : sf_strerror(sw->f));
  }
  return 0;
}

int snd_finish(snd_writer *sw, char *why) {
  const int rc = sf_close(sw->f) ? fail(why, "cannot write %s", sw->flac ? "FLAC" : "WAV") : 0;
  sw->f = NULL;
  snd_abandon(sw);
  return rc;
}
