/* test_stream.c: audio streams (codec/audio.c, codec/container.c) through the library API: the
 * encoder gives the same bytes whatever pieces the frames come in and on 1 or 2 threads; the
 * decoder gives the same frames whatever pieces the bytes come in; frames further than the
 * overlap from the ends equal a one-chunk decode, and the latents are the one-chunk latents;
 * every length class of the last chunk; corrupt, truncated and misordered records fail. */
#include <math.h>
#include <omp.h>
#include <stdlib.h>
#include <string.h>
#include "codec/container.h"
#include "codec/envelope.h"
#include "codec/internal.h"
#include "walloc_train.h"
#include "tests/check.h"

static uint32_t rng = 777;
static float frand(void) { rng = rng * 1664525u + 1013904223u; return (float)(rng >> 8) / 16777216.0f; }

/* Two channels of T 16-bit frames: two gliding tones and noise, about -12 dBFS. */
static wl_audio clip(long T) {
  wl_audio a = {2, T, 16000, 16, malloc(sizeof(float) * 2 * (size_t)T)};
  for (int c = 0; c < 2; c++)
    for (long t = 0; t < T; t++)
      a.samples[c * T + t] = (float)floor(6000 * sin(0.02 * t + 3e-7 * t * t + c) + 3000 * sin(0.31 * t) +
                                          800 * (frand() - 0.5));
  return a;
}

static wl_model *train(void) {
  wl_audio c[2] = {clip(20000), clip(9000)};
  wl_linear_params p = {.name = "s", .channels = 2, .J = 5, .K = 32, .bits = 8};
  uint8_t *buf;
  size_t len;
  wl_model *m = NULL;
  if (wl_train_linear_audio(c, 2, &p, &buf, &len) == 0) wl_model_load(&m, buf, len), free(buf);
  wl_audio_release(&c[0]);
  wl_audio_release(&c[1]);
  return m;
}

/* Encodes a with an encoder fed `piece` frames at a time (0: all at once); *len bytes. */
static uint8_t *encode_pieces(const wl_model *m, const wl_audio *a, long chunk, long piece, size_t *len) {
  wl_audio_encoder *e;
  const wl_encode_opts o = {.chunk = chunk};
  const uint8_t *p;
  size_t n;
  uint8_t *out = NULL;
  *len = 0;
  if (wl_audio_encoder_new(&e, m, a->channels, a->rate, a->depth, &o)) return NULL;
  float *part = malloc(sizeof(float) * (size_t)a->channels * (size_t)(piece ? piece : a->frames));
  int err = 0;
  for (long t = 0, k = 0; !err && t <= a->frames; t += k ? k : 1) {
    k = piece && a->frames - t > piece ? piece : a->frames - t;
    wl_audio b = {a->channels, k, a->rate, a->depth, part};
    for (int c = 0; c < a->channels; c++) memcpy(part + c * k, a->samples + c * a->frames + t, sizeof(float) * (size_t)k);
    err = k ? wl_audio_encoder_push(e, &b, &p, &n) : wl_audio_encoder_finish(e, &p, &n);
    out = err ? out : realloc(out, *len + n + 1);
    if (!err) memcpy(out + *len, p, n), *len += n;
  }
  free(part);
  wl_audio_encoder_free(e);
  if (err) { free(out); return NULL; }
  return out;
}

static void test_pieces(const wl_model *m) {
  t_begin("stream: the same bytes from any pieces of frames and on 1 or 2 threads; decoder in any pieces");
  wl_audio a = clip(23456), out, v;
  size_t len[2], n;
  uint8_t *whole[2];
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    wl_encode_opts o = {.chunk = 2048};
    T_EXPECT(wl_encode_audio(m, &a, &o, &whole[t], &len[t]) == 0, "encode");
  }
  T_EXPECT(len[0] == len[1] && !memcmp(whole[0], whole[1], len[0]), "bytes differ between 1 and 2 threads");
  wl_header h;
  T_EXPECT(wl_header_read(whole[0], len[0], &h) == 0 && h.chunks == 12 && h.chunk == 2048 && h.overlap == 768 &&
           h.frames == 23456 && h.lat_w == 733 && h.version == WL_FORMAT_VERSION_FILL && h.fill, "header: %ld chunks", h.chunks);
  const long pieces[] = {1, 7, 333, 2048, 5000};
  for (size_t i = 0; i < sizeof pieces / sizeof *pieces; i++) {
    uint8_t *b = encode_pieces(m, &a, 2048, pieces[i], &n);
    T_EXPECT(b && n == len[0] && !memcmp(b, whole[0], n), "pieces of %ld frames: other bytes", pieces[i]);
    free(b);
  }
  T_EXPECT(wl_decode_audio(m, whole[0], len[0], &out) == 0 && out.frames == a.frames, "decode");
  const size_t steps[] = {1, 3, 1000, len[0]};
  for (size_t i = 0; i < sizeof steps / sizeof *steps; i++) {
    wl_audio_decoder *d;
    long got = 0, bad = 0;
    T_EXPECT(wl_audio_decoder_new(&d, m) == 0, "decoder");
    for (size_t off = 0, used; off < len[0]; off += used) {
      const size_t k = len[0] - off < steps[i] ? len[0] - off : steps[i];
      if (wl_audio_decoder_push(d, whole[0] + off, k, &used, &v)) { bad = -1; break; }
      for (int c = 0; c < 2; c++)
        for (long t = 0; t < v.frames && got + t < a.frames; t++) bad += v.samples[c * v.frames + t] != out.samples[c * a.frames + got + t];
      got += v.frames;
    }
    T_EXPECT(bad == 0 && got == a.frames && wl_audio_decoder_finish(d) == 0, "bytes %zu at a time: %ld frames, %ld differ",
             steps[i], got, bad);
    wl_audio_decoder_free(d);
  }
  wl_audio_release(&out);
  for (int t = 0; t < 2; t++) free(whole[t]);
  wl_audio_release(&a);
  t_end();
}

/* Largest |x - y| over frames [from, to) of two clips of a's shape. */
static float worst(const wl_audio *x, const wl_audio *y, long from, long to) {
  float w = 0;
  for (int c = 0; c < x->channels; c++)
    for (long t = from; t < to; t++) w = fmaxf(w, fabsf(x->samples[c * x->frames + t] - y->samples[c * y->frames + t]));
  return w;
}

static void test_interior(const wl_model *m) {
  t_begin("stream: away from the ends, frames and latents equal a one-chunk coding's; every last-chunk length");
  long L, O;
  T_EXPECT(wl_audio_chunking(m, 1024, &L, &O) == 0 && L == 1024 && O == 768, "L %ld O %ld", L, O);
  /* one chunk exactly (T = L + O); two, the last of 2 O + 1; a last one of n = L + 2 O; many */
  const long lengths[] = {L + O, L + O + 1, 2 * L + O, 3 * L + O + 1, 20 * L + 517};
  for (size_t i = 0; i < sizeof lengths / sizeof *lengths; i++) {
    const long T = lengths[i];
    wl_audio a = clip(T), one, many;
    wl_encode_opts o1 = {.chunk = 1L << 20, .nofill = 1}, o2 = {.chunk = L, .nofill = 1};
    uint8_t *b1, *b2;
    size_t n1, n2;
    int16_t *q1, *q2;
    wl_info h1, h2;
    T_EXPECT(wl_encode_audio(m, &a, &o1, &b1, &n1) == 0 && wl_encode_audio(m, &a, &o2, &b2, &n2) == 0, "encode");
    T_EXPECT(wl_decode_audio(m, b1, n1, &one) == 0 && wl_decode_audio(m, b2, n2, &many) == 0 && many.frames == T,
             "decode %ld frames", T);
    T_EXPECT(worst(&one, &many, O, T - O) <= 1, "T %ld: frames differ by %g from a one-chunk decode", T,
             worst(&one, &many, O, T - O));
    T_EXPECT(wl_latents(m, b1, n1, &q1, &h1) == 0 && wl_latents(m, b2, n2, &q2, &h2) == 0 && h2.lat_w == h1.lat_w &&
             h2.lat_w == (T + 31) / 32, "latents");
    long differ = 0;
    for (int c = 0; c < h2.keep; c++)
      for (long p = O / 32; p < h2.lat_w - O / 32; p++) differ += q1[c * h1.lat_w + p] != q2[c * h2.lat_w + p];
    T_EXPECT(differ == 0, "T %ld: %ld latents differ from the one-chunk latents", T, differ);
    T_EXPECT(h2.chunks == (T - O + L - 1) / L, "T %ld: %ld chunks", T, h2.chunks);
    free(b1); free(b2); free(q1); free(q2);
    wl_audio_release(&one);
    wl_audio_release(&many);
    wl_audio_release(&a);
  }
  t_end();
}

/* wl_decode_audio of b with byte `at` set to v and the CRC of its record (which ends at end)
 * recomputed when end is not 0. */
static int decode_patched(const wl_model *m, const uint8_t *b, size_t len, size_t at, uint8_t v, size_t start, size_t end) {
  uint8_t *x = malloc(len);
  wl_audio out;
  memcpy(x, b, len);
  x[at] = v;
  if (end) wl_put32(x + end - 4, wl_crc32(0, x + start, end - start - 4));
  int e = wl_decode_audio(m, x, len, &out);
  if (!e) wl_audio_release(&out);
  free(x);
  return e;
}

static void test_corrupt(const wl_model *m, const wl_model *rgb) {
  t_begin("stream: corrupt, truncated, misordered and trailing records fail; encoder and decoder misuse");
  wl_audio a = clip(9000), out;
  wl_encode_opts o = {.chunk = 2048};
  uint8_t *b, *c;
  size_t len, n;
  T_EXPECT(wl_encode_audio(m, &a, &o, &b, &len) == 0, "encode");
  for (size_t k = 0; k < len; k += 11) T_EXPECT(wl_decode_audio(m, b, k, &out) < 0, "prefix of %zu bytes decodes", k);
  for (size_t k = 0; k < len; k += 5) {
    b[k] ^= 0x10;
    T_EXPECT(wl_decode_audio(m, b, len, &out) < 0, "flip at %zu decodes", k);
    b[k] ^= 0x10;
  }
  const size_t r0 = WL_AUDIO_HDR; /* the first chunk record */
  wl_header h;
  T_EXPECT(wl_header_read(b, len, &h) == 0, "header");
  size_t size0 = wl_chunk_table_size(&h) + 4;
  const size_t env0 = r0 + WL_CHUNK_FIXED + 5 * (size_t)h.keep; /* the first envelope entry */
  for (int k = 0; k < h.keep + h.channels; k++) size0 += wl_get32(b + r0 + WL_CHUNK_FIXED + 5 * k + 1);
  T_EXPECT(decode_patched(m, b, len, r0, 'X', r0, r0 + size0) == WL_ERR_CORRUPT, "tag");
  T_EXPECT(decode_patched(m, b, len, r0 + 1, 1, r0, r0 + size0) == WL_ERR_CORRUPT, "last flag on chunk 0");
  T_EXPECT(decode_patched(m, b, len, r0 + 2, 1, r0, r0 + size0) == WL_ERR_CORRUPT, "index");
  T_EXPECT(decode_patched(m, b, len, r0 + 6, 7, r0, r0 + size0) == WL_ERR_CORRUPT, "span frames");
  T_EXPECT(decode_patched(m, b, len, r0 + WL_CHUNK_FIXED, 9, r0, r0 + size0) == WL_ERR_CORRUPT, "entropy mode");
  T_EXPECT(decode_patched(m, b, len, r0 + WL_CHUNK_FIXED + 4, 0x7f, r0, r0 + size0) == WL_ERR_CORRUPT, "stream length");
  T_EXPECT(decode_patched(m, b, len, env0, WL_ENTROPY_STATIC, r0, r0 + size0) == WL_ERR_CORRUPT, "envelope mode static");
  T_EXPECT(decode_patched(m, b, len, env0, 9, r0, r0 + size0) == WL_ERR_CORRUPT, "envelope mode 9");
  T_EXPECT(decode_patched(m, b, len, env0 + 4, 0x7f, r0, r0 + size0) == WL_ERR_CORRUPT, "envelope length");
  T_EXPECT(decode_patched(m, b, len, len - 12, 0x55, 0, 0) == WL_ERR_CORRUPT, "end frame count");
  T_EXPECT(decode_patched(m, b, len, 32, 0x41, 0, 0) == WL_ERR_CORRUPT, "overlap not a multiple of 2^J");
  c = malloc(len + 1);
  memcpy(c, b, len);
  c[len] = 0;
  T_EXPECT(wl_decode_audio(m, c, len + 1, &out) == WL_ERR_CORRUPT && wl_header_read(c, len + 1, &h) == WL_ERR_CORRUPT,
           "a byte after the end record");
  memcpy(c, b, r0);
  memcpy(c + r0, b + r0 + size0, len - r0 - size0);
  T_EXPECT(wl_decode_audio(m, c, len - size0, &out) == WL_ERR_CORRUPT, "chunk 0 missing");
  free(c);
  T_EXPECT(wl_decode_audio(rgb, b, len, &out) == WL_ERR_MISMATCH, "decoded with an image model");
  wl_audio_decoder *d;
  wl_audio v;
  T_EXPECT(wl_audio_decoder_new(&d, m) == 0, "decoder");
  for (size_t off = 0, used; off < len - WL_STREAM_TAIL; off += used)
    T_EXPECT(wl_audio_decoder_push(d, b + off, len - WL_STREAM_TAIL - off, &used, &v) == 0, "push");
  T_EXPECT(wl_audio_decoder_finish(d) == WL_ERR_TRUNCATED, "finished without its end record");
  wl_audio_decoder_free(d);
  T_EXPECT(wl_audio_decoder_new(&d, m) == 0, "decoder");
  c = malloc(len);
  memcpy(c, b, len);
  c[r0 + 2] ^= 1; /* chunk 0 claims index 1, and its CRC no longer holds */
  size_t used;
  T_EXPECT(wl_audio_decoder_push(d, c, len, &used, &v) == 0 && used == r0, "the file header");
  const int bad = wl_audio_decoder_push(d, c + r0, len - r0, &used, &v);
  T_EXPECT(bad == WL_ERR_CRC, "a chunk whose CRC fails: %d", bad);
  T_EXPECT(wl_audio_decoder_push(d, b + r0, len - r0, &used, &v) == bad && used == 0 && !v.frames,
           "a push after a failure: the same error, nothing read");
  T_EXPECT(wl_audio_decoder_finish(d) == bad, "finish after a failure");
  free(c);
  long T;
  T_EXPECT(wl_stream_frames(b + len - WL_STREAM_TAIL, &T) == 0 && T == 9000, "end record frames");
  wl_audio_decoder_free(d);
  free(b);
  wl_audio_encoder *e;
  const uint8_t *p;
  long L, O;
  T_EXPECT(wl_audio_chunking(m, 1000, &L, &O) == WL_ERR_ARG && wl_audio_chunking(m, 512, &L, &O) == WL_ERR_ARG &&
           wl_audio_chunking(m, 0, &L, &O) == 0 && L == WL_AUDIO_CHUNK_SAMPLES / 2, "chunk checks (default %ld)", L);
  T_EXPECT(wl_audio_encoder_new(&e, m, 2, 16000, 16, NULL) == 0, "encoder");
  T_EXPECT(wl_audio_encoder_finish(e, &p, &n) == WL_ERR_LIMIT, "no frames accepted");
  T_EXPECT(wl_audio_encoder_push(e, &a, &p, &n) == WL_ERR_ARG, "push after a failure");
  wl_audio_encoder_free(e);
  T_EXPECT(wl_audio_encoder_new(&e, m, 1, 16000, 16, NULL) == WL_ERR_MISMATCH && !e, "mono on a stereo model");
  T_EXPECT(wl_audio_encoder_new(&e, m, 2, 16000, 12, NULL) == WL_ERR_ARG, "depth 12");
  T_EXPECT(wl_audio_encoder_new(&e, rgb, 2, 16000, 16, NULL) == WL_ERR_MISMATCH, "image model");
  wl_audio_release(&a);
  t_end();
}

static void test_truncate(const wl_model *m, const wl_model *rgb) {
  t_begin("stream: cut to k channels (wl_audio_truncate) = encoded with keep k, with and without an envelope; target keep");
  wl_audio a = clip(9000);
  for (int nofill = 0; nofill < 2; nofill++) {
    wl_encode_opts o = {.chunk = 2048, .nofill = nofill};
    uint8_t *all = NULL, *cut = NULL, *direct = NULL, *img = NULL;
    size_t n, ncut, ndirect, nimg;
    T_EXPECT(wl_encode_audio(m, &a, &o, &all, &n) == 0, "encode");
    int same = 0, sizes_ok = 1, keep;
    for (int k = 1; k <= 32; k++) {
      o.keep = k;
      T_EXPECT(wl_encode_audio(m, &a, &o, &direct, &ndirect) == 0 && wl_audio_truncate(all, n, k, &cut, &ncut) == 0, "k %d", k);
      same += ncut == ndirect && !memcmp(cut, direct, ncut);
      /* the largest k of at most this many bytes is k itself; one byte less, k - 1 */
      sizes_ok &= wl_audio_target_keep(all, n, WL_TARGET_BYTES, (double)ndirect, &keep) == 0 && keep == k;
      if (k > 1) sizes_ok &= wl_audio_target_keep(all, n, WL_TARGET_BYTES, (double)ndirect - 1, &keep) == 0 && keep == k - 1;
      else sizes_ok &= wl_audio_target_keep(all, n, WL_TARGET_BYTES, (double)ndirect - 1, &keep) == WL_ERR_ARG && !keep;
      free(cut);
      free(direct);
    }
    T_EXPECT(same == 32 && sizes_ok, "nofill %d: %d of 32 cuts equal the direct encodes; sizes %s", nofill, same,
             sizes_ok ? "ok" : "wrong");
    T_EXPECT(wl_audio_truncate(all, n, 0, &cut, &ncut) == WL_ERR_ARG && wl_audio_truncate(all, n, 33, &cut, &ncut) == WL_ERR_ARG &&
             !cut, "keep out of range");
    all[WL_AUDIO_HDR + 200] ^= 1; /* inside chunk 0's streams */
    T_EXPECT(wl_audio_truncate(all, n, 3, &cut, &ncut) == WL_ERR_CRC, "a corrupt stream");
    T_EXPECT(wl_audio_target_keep(all, n, WL_TARGET_PSNR, 30, &keep) < 0, "a PSNR target");
    free(all);
    T_EXPECT(wl_encode(rgb, &(wl_image){3, 8, 8, 8, (float[192]){0}, NULL}, NULL, &img, &nimg) == 0 &&
             wl_audio_truncate(img, nimg, 1, &cut, &ncut) == WL_ERR_ARG, "an image file");
    free(img);
  }
  wl_audio_release(&a);
  t_end();
}

/* Decodes b pushing `step` bytes at a time; 0 when every frame equals ref's. */
static long decode_pieces(const wl_model *m, const uint8_t *b, size_t len, size_t step, const wl_audio *ref) {
  wl_audio_decoder *d;
  wl_audio v;
  long got = 0, bad = 0;
  if (wl_audio_decoder_new(&d, m)) return -1;
  for (size_t off = 0, used; off < len; off += used) {
    if (wl_audio_decoder_push(d, b + off, len - off < step ? len - off : step, &used, &v)) { bad = -1; break; }
    for (int c = 0; c < ref->channels; c++)
      for (long t = 0; t < v.frames; t++) bad += v.samples[c * v.frames + t] != ref->samples[c * ref->frames + got + t];
    got += v.frames;
  }
  if (bad >= 0 && (got != ref->frames || wl_audio_decoder_finish(d))) bad = -1;
  wl_audio_decoder_free(d);
  return bad;
}

static void test_detail(const wl_model *m) {
  t_begin("stream: a detail layer: same bytes on 1 and 2 threads, decodes in pieces, raises SNR; a cut drops it");
  wl_audio a = clip(9000), plain, fine;
  uint8_t *b[2] = {NULL, NULL}, *p = NULL, *cut = NULL, *direct = NULL;
  size_t n[2], np, ncut, ndirect;
  for (int t = 0; t < 2; t++) {
    omp_set_num_threads(t + 1);
    wl_encode_opts o = {.chunk = 2048, .step = 700};
    T_EXPECT(wl_encode_audio(m, &a, &o, &b[t], &n[t]) == 0, "encode");
  }
  omp_set_num_threads(2);
  T_EXPECT(n[0] == n[1] && !memcmp(b[0], b[1], n[0]), "bytes differ between 1 and 2 threads");
  wl_encode_opts o = {.chunk = 2048};
  wl_header h;
  T_EXPECT(wl_encode_audio(m, &a, &o, &p, &np) == 0 && wl_header_read(b[0], n[0], &h) == 0 && h.has_detail &&
           h.step == 700 && n[0] > np, "header: detail %d step %d, %zu vs %zu bytes", h.has_detail, h.step, n[0], np);
  T_EXPECT(wl_decode_audio(m, p, np, &plain) == 0 && wl_decode_audio(m, b[0], n[0], &fine) == 0, "decode");
  double e0 = 0, e1 = 0;
  for (long i = 0; i < 2 * a.frames; i++) {
    e0 += (a.samples[i] - plain.samples[i]) * (double)(a.samples[i] - plain.samples[i]);
    e1 += (a.samples[i] - fine.samples[i]) * (double)(a.samples[i] - fine.samples[i]);
  }
  T_EXPECT(e1 < e0 / 4, "squared error %g with the detail layer, %g without", e1, e0);
  T_EXPECT(decode_pieces(m, b[0], n[0], 1, &fine) == 0 && decode_pieces(m, b[0], n[0], 777, &fine) == 0,
           "pieces decode differently");
  o.keep = 20;
  T_EXPECT(wl_audio_truncate(b[0], n[0], 20, &cut, &ncut) == 0 && wl_encode_audio(m, &a, &o, &direct, &ndirect) == 0,
           "cut and direct encode");
  wl_header hc;
  T_EXPECT(wl_header_read(cut, ncut, &hc) == 0 && !hc.has_detail && hc.step == 0 && ncut == ndirect &&
               !memcmp(cut, direct, ncut),
           "a cut to 20 channels: the direct encode's bytes, no detail layer (%zu, %zu)", ncut, ndirect);
  wl_audio y, yd;
  T_EXPECT(wl_decode_audio(m, cut, ncut, &y) == 0 && wl_decode_audio(m, direct, ndirect, &yd) == 0 &&
           !memcmp(y.samples, yd.samples, sizeof(float) * 2 * (size_t)a.frames), "the cut decodes as the direct encode");
  wl_audio_release(&y);
  wl_audio_release(&yd);
  free(cut);
  T_EXPECT(wl_audio_truncate(b[0], n[0], 32, &cut, &ncut) == 0 && ncut == n[0] && !memcmp(cut, b[0], ncut),
           "a cut to every channel is the stream");
  free(cut); free(direct); free(p); free(b[0]); free(b[1]);
  wl_audio_release(&plain);
  wl_audio_release(&fine);
  wl_audio_release(&a);
  t_end();
}

/* Decodes b with segments of `seg` latent positions (0: every chunk whole) into x (C, T), pushing
 * it `step` bytes at a time; the frames given out, or -1 on an error. */
static long decode_segments(const wl_model *m, const uint8_t *b, size_t len, long seg, size_t step, float *x, int C,
                            long T) {
  wl_audio_decoder *d;
  wl_audio v;
  long got = 0;
  if (wl_audio_decoder_new(&d, m)) return -1;
  wl_audio_decoder_segment(d, seg);
  int e = 0;
  for (size_t off = 0, used; !e && off < len; off += used) {
    e = wl_audio_decoder_push(d, b + off, len - off < step ? len - off : step, &used, &v);
    for (int c = 0; !e && v.frames && c < C && got + v.frames <= T; c++)
      memcpy(x + c * T + got, v.samples + c * v.frames, sizeof(float) * (size_t)v.frames);
    got += v.frames;
  }
  if (!e) e = wl_audio_decoder_finish(d);
  wl_audio_decoder_free(d);
  return e ? -1 : got;
}

/* The envelope's values (wl_env_measure: the DFT of each windowed frame from a DFT of half its
 * length, then the power of its bands) against those of FFTW's real-input DFT of the same frame,
 * the decoder's analysis: the two round differently, so a value at a step's edge may move by one;
 * at most 1 in 500 do, none by more. Noise under tones, 60 dB quieter above 4 kHz, at three rates
 * (frames of 1024 and 4096), on whole and cut frames. */
static void test_envelope_measure(void) {
  t_begin("envelope: the band values of each frame are those of its real DFT (at most 1 in 500 one step off)");
  const int rates[] = {16000, 44100, 48000};
  for (int r = 0; r < 3; r++) {
    wl_env e;
    if (wl_env_init(&e, rates[r], 0)) { T_EXPECT(0, "init %d", rates[r]); continue; }
    const long n = 40L * e.N + 123;
    float *x = malloc(sizeof(float) * 2 * (size_t)n), *frame = fftwf_malloc(sizeof(float) * (size_t)e.N);
    fftwf_complex *X = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(e.N / 2 + 1));
    wl_fftw_planner(1);
    fftwf_plan plan = fftwf_plan_dft_r2c_1d(e.N, frame, X, FFTW_ESTIMATE);
    wl_fftw_planner(0);
    float lo = 0; /* a one-pole low-pass of the noise: the top bands far below the bottom ones */
    for (long t = 0; t < 2 * n; t++) {
      lo += 0.05f * (frand() - 0.5f - lo);
      x[t] = 3000 * lo + 200 * (float)sin(0.1 * t) + 100 * (float)sin(0.77 * t) + 0.5f * (frand() - 0.5f);
    }
    int64_t f0;
    long F;
    const int64_t s = 5000; /* the span's start: frames cut at both ends */
    wl_env_frames(e.N, s, n, &f0, &F);
    int16_t *v = malloc(sizeof(int16_t) * 2 * (size_t)F * (size_t)e.bands);
    wl_env_measure(&e, x, n, 2, s, n, 1.0f / 32768, v);
    long off = 0, far = 0, total = 0;
    for (int c = 0; c < 2; c++)
      for (long f = 0; f < F; f++) {
        for (int j = 0; j < e.N; j++) {
          const int64_t at = (f0 + f) * (e.N / 2) - s + j;
          frame[j] = at >= 0 && at < n ? x[c * n + at] * (1.0f / 32768) * e.window[j] : 0.0f;
        }
        fftwf_execute(plan);
        for (int b = 0; b < e.bands; b++) {
          double sum = 0;
          for (int k = e.start[b]; k < e.start[b + 1]; k++) sum += (double)X[k][0] * X[k][0] + (double)X[k][1] * X[k][1];
          const double P = 2 * sum / ((double)(e.start[b + 1] - e.start[b]) * e.N);
          double want = P > 0 ? floor(10 * log10(P) / 3 + 0.5) : WL_ENV_MIN;
          want = want < WL_ENV_MIN ? WL_ENV_MIN : want > WL_ENV_MAX ? WL_ENV_MAX : want;
          const int d = abs(v[(c * F + f) * e.bands + b] - (int)want);
          off += d == 1, far += d > 1, total++;
        }
      }
    T_EXPECT(far == 0 && off * 500 <= total, "%d Hz: %ld of %ld values one step off, %ld further", rates[r], off, total,
             far);
    wl_fftw_planner(1);
    fftwf_destroy_plan(plan);
    wl_fftw_planner(0);
    fftwf_free(frame);
    fftwf_free(X);
    free(x);
    free(v);
    wl_env_free(&e);
  }
  t_end();
}

static void test_segments(void) {
  t_begin("stream: chunks decoded in segments of any length give the bits of chunks decoded whole: built-in stereo "
          "and mono (network, post-filter), with and without an envelope, 16 and 24 bits, 1 and 2 threads");
  const char *names[] = {"stereo", "mono"};
  for (int k = 0; k < 2; k++) {
    wl_model *m = NULL;
    T_EXPECT(wl_model_builtin(&m, names[k]) == 0, "model %s", names[k]);
    if (!m) continue;
    const int C = m->d.channels;
    const long T = 80000;
    for (int nofill = 0; nofill < 2; nofill++) {
      const int depth = nofill ? 24 : 16;
      wl_audio a = {C, T, k ? 16000 : 44100, depth, malloc(sizeof(float) * (size_t)C * (size_t)T)};
      const double top = ldexp(1.0, depth - 1);
      for (int c = 0; c < C; c++)
        for (long t = 0; t < T; t++)
          a.samples[c * T + t] = (float)floor(top * (0.2 * sin(0.013 * t + c) + 0.1 * sin(0.4 * t) + 0.02 * (frand() - 0.5)));
      const wl_encode_opts o = {.chunk = 32768, .nofill = nofill};
      uint8_t *b = NULL;
      size_t len = 0;
      T_EXPECT(wl_encode_audio(m, &a, &o, &b, &len) == 0, "encode");
      float *ref = malloc(sizeof(float) * (size_t)C * (size_t)T), *x = malloc(sizeof(float) * (size_t)C * (size_t)T);
      omp_set_num_threads(1);
      T_EXPECT(decode_segments(m, b, len, 0, len, ref, C, T) == T, "decode whole");
      const long segs[] = {37, 100, 2048};
      for (int threads = 1; threads <= 2; threads++) {
        omp_set_num_threads(threads);
        for (size_t i = 0; i < sizeof segs / sizeof *segs; i++) {
          memset(x, 0, sizeof(float) * (size_t)C * (size_t)T);
          const long got = decode_segments(m, b, len, segs[i], i ? len : 1000, x, C, T);
          T_EXPECT(got == T && !memcmp(x, ref, sizeof(float) * (size_t)C * (size_t)T),
                   "%s, %d-bit, segments of %ld, %d thread(s): %ld frames, other bits", names[k], depth, segs[i],
                   threads, got);
        }
      }
      free(ref); free(x); free(b);
      wl_audio_release(&a);
    }
    wl_model_free(m);
  }
  omp_set_num_threads(2);
  t_end();
}

int main(void) {
  wl_model *m = train(), *rgb = NULL;
  if (!m || wl_model_builtin(&rgb, "rgb")) { printf("testing stream model ... FAILED\n"); return t_summary() | 1; }
  test_pieces(m);
  test_interior(m);
  test_corrupt(m, rgb);
  test_truncate(m, rgb);
  test_detail(m);
  test_segments();
  test_envelope_measure();
  wl_model_free(m);
  wl_model_free(rgb);
  return t_summary();
}
