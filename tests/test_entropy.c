/* Tests for entropy/: table normalisation, round trips of every mode on random, skewed, smooth and
 * degenerate planes at 2, 8, 12 and 16 bits, compression against the 0th-order entropy, error
 * paths, and decoding of truncated, flipped and random streams (run it under ASan/UBSan too). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entropy/entropy.h"
#include "tests/check.h"
/* The context modes' portable scan, built here under another name, to hold the library's own (AVX2
 * where the CPU has it) to its bits. */
#define WLE_CONTEXT_PORTABLE 1
#define wle_code_context portable_code_context
#define wle_row_activity portable_row_activity
#include "entropy/context.c"
#undef wle_code_context
#undef wle_row_activity
/* And the mode guess's rows by AVX2 against its scalar positions, from a copy of entropy.c (which
 * calls the library's wle_code_context, declared again: coder.h named it otherwise above). */
int wle_code_context(wle_io *io, int predictive, const int16_t *in, int16_t *out, const int16_t *prev, int h,
                     int w, int bits);
#define wle_bound copy_bound
#define wle_encode copy_encode
#define wle_decode copy_decode
#define wle_encode_best copy_encode_best
#define wle_decode_planes copy_decode_planes
#include "entropy/entropy.c"
#undef wle_bound
#undef wle_encode
#undef wle_decode
#undef wle_encode_best
#undef wle_decode_planes

static uint64_t rng = 0x9e3779b97f4a7c15u;
static uint32_t rnd(void) { /* xorshift64* */
  rng ^= rng >> 12;
  rng ^= rng << 25;
  rng ^= rng >> 27;
  return (uint32_t)((rng * 0x2545f4914f6cdd1du) >> 32);
}

static int clampv(long v, int bits) {
  long half = 1L << (bits - 1);
  return (int)(v < -half ? -half : v >= half ? half - 1 : v);
}

/* Two-sided geometric (discrete Laplacian) with mean magnitude about `scale`. */
static int laplace(double scale) {
  double u = (rnd() + 0.5) / 4294967296.0;
  int mag = (int)(-scale * log(u));
  return rnd() & 1 ? mag : -mag;
}

enum { UNIFORM, LAPLACE, SMOOTH, TEXTURE, ZERO, SINGLE, MAXV, MINV, KINDS };
static const char *kind_name[KINDS] = {"uniform", "laplace", "smooth", "texture", "zero", "single", "max", "min"};

/* Fills q [h][w] with `kind` data of `bits` bits. */
static void fill(int16_t *q, int h, int w, int bits, int kind) {
  long half = 1L << (bits - 1);
  double amp = half * 0.45, f1 = 0.11 + (rnd() % 7) * 0.01, f2 = 0.07 + (rnd() % 5) * 0.01;
  int single = clampv((long)(rnd() % (2 * half)) - half, bits);
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      long v = 0;
      double scale = exp(-1.0 + 3.5 * (0.5 + 0.5 * sin(0.05 * x + 0.07 * y)));
      switch (kind) {
        case UNIFORM: v = (long)(rnd() % (2 * half)) - half; break;
        case LAPLACE: v = laplace(half > 8 ? 3.0 : 0.7); break;
        case SMOOTH: v = lround(amp * (0.6 * sin(f1 * x + 0.3 * y * f2) + 0.4 * cos(f2 * y - 0.02 * x))) + laplace(0.6); break;
        case TEXTURE: v = laplace(half > 8 ? scale : scale / 8); break;
        case ZERO: v = 0; break;
        case SINGLE: v = single; break;
        case MAXV: v = half - 1; break;
        case MINV: v = -half; break;
      }
      q[(size_t)y * w + x] = (int16_t)clampv(v, bits);
    }
}

static void histogram(const int16_t *q, size_t n, int bits, uint32_t *hist) {
  memset(hist, 0, sizeof(uint32_t) << bits);
  for (size_t i = 0; i < n; i++) hist[q[i] + (1 << (bits - 1))]++;
}

static double entropy0(const int16_t *q, size_t n, int bits) { /* bits per symbol */
  uint32_t *hist = malloc(sizeof(uint32_t) << bits);
  histogram(q, n, bits, hist);
  double e = 0;
  for (size_t s = 0; s < (size_t)1 << bits; s++)
    if (hist[s]) e -= hist[s] * log2((double)hist[s] / (double)n);
  free(hist);
  return e / (double)n;
}

/* Static table for q: its own histogram, with a floor of one where the alphabet allows. */
static void static_table(const int16_t *q, size_t n, int bits, uint16_t *freq) {
  uint32_t *hist = malloc(sizeof(uint32_t) << bits);
  histogram(q, n, bits, hist);
  int rc = wle_table_build(hist, bits, bits <= WLE_TABLE_BITS - 1, freq);
  T_EXPECT(rc == WLE_OK, "table for bits %d: %d", bits, rc);
  free(hist);
}

static int in_range(const int16_t *q, size_t n, int bits) {
  for (size_t i = 0; i < n; i++)
    if (q[i] < -(1 << (bits - 1)) || q[i] >= (1 << (bits - 1))) return 0;
  return 1;
}

static void test_table_build(void) {
  t_begin("table_build");
  static const int bitss[] = {2, 8, 12, 16};
  for (int bi = 0; bi < 4; bi++) {
    int bits = bitss[bi];
    size_t ns = (size_t)1 << bits;
    uint32_t *hist = malloc(ns * sizeof *hist);
    uint16_t *freq = malloc(ns * sizeof *freq);
    for (int trial = 0; trial < 6; trial++) {
      for (size_t s = 0; s < ns; s++) /* sparse, skewed, with huge and tiny counts */
        hist[s] = rnd() % 3 == 0 ? 0 : trial == 0 ? 1 : (rnd() % 1000) * (rnd() % 5 == 0 ? 100000 : 1);
      if (bits == 16) /* keep the alphabet within what a 2^15 table can hold */
        for (size_t s = 0; s < ns; s++) hist[s] = s % 3 ? 0 : hist[s];
      hist[rnd() % ns] = trial == 5 ? 0xffffffffu : 1;
      for (int floor_one = 0; floor_one < 2; floor_one++) {
        int rc = wle_table_build(hist, bits, floor_one, freq);
        if (floor_one && bits > WLE_TABLE_BITS - 1) {
          T_EXPECT(rc == WLE_ERR_ARG, "floor_one at bits %d: %d", bits, rc);
          continue;
        }
        T_EXPECT(rc == WLE_OK, "bits %d: %d", bits, rc);
        uint64_t sum = 0, total = 0;
        for (size_t s = 0; s < ns; s++) sum += freq[s], total += hist[s];
        T_EXPECT(sum == 1u << WLE_TABLE_BITS, "bits %d sum %llu", bits, (unsigned long long)sum);
        for (size_t s = 0; s < ns; s++) {
          T_EXPECT(freq[s] || (!hist[s] && !floor_one), "bits %d: symbol %zu lost", bits, s);
          T_EXPECT(hist[s] || floor_one || !freq[s], "bits %d: unseen symbol %zu kept", bits, s);
        }
        (void)total;
      }
    }
    /* Without rare symbols every frequency is its exact share rounded up or down. */
    uint64_t total = 0;
    for (size_t s = 0; s < ns; s++) total += hist[s] = bits < 16 ? 50000 + rnd() % 50000 : 0;
    if (bits < 16) {
      T_EXPECT(wle_table_build(hist, bits, 0, freq) == WLE_OK, "dense table");
      for (size_t s = 0; s < ns; s++) {
        double share = (double)hist[s] * (1u << WLE_TABLE_BITS) / (double)total;
        T_EXPECT(fabs(freq[s] - share) < 1, "bits %d: %u for a share of %.2f", bits, freq[s], share);
      }
    }
    /* A Laplacian histogram with a long tail of rare symbols costs little over its entropy. */
    total = 0;
    for (size_t s = 0; s < ns; s++) {
      double d = fabs((double)s - (double)ns / 2);
      total += hist[s] = (uint32_t)(1e6 * exp(-d / 6));
    }
    if (wle_table_build(hist, bits, bits <= 8, freq) == WLE_OK) { /* a floor under 2^12 symbols costs more */
      double excess = 0;
      for (size_t s = 0; s < ns; s++)
        if (hist[s]) excess += hist[s] * log2((double)hist[s] / (double)total * (1u << WLE_TABLE_BITS) / freq[s]);
      T_EXPECT(excess / (double)total < 0.01, "bits %d: table costs %.4f bits/symbol over the entropy", bits,
               excess / (double)total);
    } else {
      T_EXPECT(0, "laplacian table at bits %d", bits);
    }
    memset(hist, 0, ns * sizeof *hist);
    T_EXPECT(wle_table_build(hist, bits, 0, freq) == WLE_ERR_ARG, "empty histogram accepted");
    if (bits <= WLE_TABLE_BITS - 1) {
      T_EXPECT(wle_table_build(hist, bits, 1, freq) == WLE_OK, "empty floor_one histogram refused");
      uint32_t lo = 0xffff, hi = 0;
      for (size_t s = 0; s < ns; s++) lo = freq[s] < lo ? freq[s] : lo, hi = freq[s] > hi ? freq[s] : hi;
      T_EXPECT(hi - lo <= 1, "empty floor_one histogram not uniform: %u..%u", lo, hi);
    }
    hist[ns / 3] = 7;
    T_EXPECT(wle_table_build(hist, bits, 0, freq) == WLE_OK && freq[ns / 3] == 1u << WLE_TABLE_BITS,
             "single symbol");
    free(hist);
    free(freq);
  }
  uint32_t big[1 << 16];
  uint16_t f16[1 << 16];
  for (int s = 0; s < 1 << 16; s++) big[s] = 1;
  T_EXPECT(wle_table_build(big, 16, 0, f16) == WLE_ERR_ARG, "2^16 symbols in a 2^15 table");
  T_EXPECT(wle_table_build(big, 1, 0, f16) == WLE_ERR_ARG && wle_table_build(NULL, 8, 0, f16) == WLE_ERR_ARG,
           "bad arguments accepted");
  t_end();
}

/* Encodes q in `mode`, checks the bound and the round trip; returns the stream size or 0. */
static size_t roundtrip(int mode, const int16_t *q, const int16_t *prev, int h, int w, int bits,
                        const uint16_t *freq, const char *what) {
  size_t n = (size_t)h * w, cap = wle_bound(n, bits), len = 0;
  uint8_t *buf = malloc(cap);
  int16_t *d = malloc(n * sizeof *d);
  int rc = wle_encode(mode, q, prev, h, w, bits, freq, buf, cap, &len);
  T_EXPECT(rc == WLE_OK, "%s: mode %d bits %d %dx%d: encode %d", what, mode, bits, h, w, rc);
  if (!rc) {
    T_EXPECT(len <= cap, "%s: over the bound", what);
    rc = wle_decode(mode, buf, len, prev, h, w, bits, freq, d);
    T_EXPECT(rc == WLE_OK && !memcmp(d, q, n * sizeof *d), "%s: mode %d bits %d %dx%d: decode %d", what,
             mode, bits, h, w, rc);
  }
  free(buf);
  free(d);
  return rc ? 0 : len;
}

static void test_roundtrip(void) {
  t_begin("roundtrip");
  static const int bitss[] = {2, 8, 12, 16};
  static const int shapes[][2] = {{1, 1}, {1, 37}, {41, 1}, {17, 23}, {48, 64}};
  for (int bi = 0; bi < 4; bi++)
    for (int si = 0; si < 5; si++)
      for (int kind = 0; kind < KINDS; kind++) {
        int bits = bitss[bi], h = shapes[si][0], w = shapes[si][1];
        size_t n = (size_t)h * w;
        int16_t *q = malloc(n * sizeof *q), *prev = malloc(n * sizeof *prev);
        uint16_t *freq = malloc(sizeof(uint16_t) << bits);
        fill(q, h, w, bits, kind);
        fill(prev, h, w, bits, (kind + 1) % KINDS);
        static_table(q, n, bits, freq);
        for (int mode = 0; mode < WLE_MODES; mode++)
          roundtrip(mode, q, mode & 1 ? prev : NULL, h, w, bits, freq, kind_name[kind]);
        free(q);
        free(prev);
        free(freq);
      }
  t_end();
}

/* Degenerate planes must cost a few bytes; the adaptive modes must beat the 0th-order entropy
 * clearly on correlated fields. */
static void test_compression(void) {
  t_begin("compression");
  int h = 64, w = 96, bits = 8;
  size_t n = (size_t)h * w;
  int16_t *q = malloc(n * sizeof *q), *prev = malloc(n * sizeof *prev);
  fill(q, h, w, bits, ZERO);
  size_t t = roundtrip(WLE_TABLE, q, NULL, h, w, bits, NULL, "zero");
  size_t a = roundtrip(WLE_ADAPTIVE, q, NULL, h, w, bits, NULL, "zero");
  size_t p = roundtrip(WLE_PREDICTIVE, q, NULL, h, w, bits, NULL, "zero");
  T_EXPECT(t <= 8 && a <= 16 && p <= 16, "all-zero plane: table %zu, adaptive %zu, predictive %zu bytes", t, a, p);
  fill(q, h, w, bits, MINV);
  t = roundtrip(WLE_TABLE, q, NULL, h, w, bits, NULL, "min");
  T_EXPECT(t <= 8, "constant plane: table %zu bytes", t);

  fill(q, h, w, bits, SMOOTH);
  double h0 = entropy0(q, n, bits) * n / 8;
  p = roundtrip(WLE_PREDICTIVE, q, NULL, h, w, bits, NULL, "smooth");
  a = roundtrip(WLE_ADAPTIVE, q, NULL, h, w, bits, NULL, "smooth");
  T_EXPECT(p < 0.5 * h0 && a < 0.85 * h0, "smooth: predictive %zu, adaptive %zu bytes, entropy %.0f", p, a, h0);

  fill(q, h, w, bits, TEXTURE);
  for (size_t i = 0; i < n; i++) prev[i] = (int16_t)clampv(q[i] + laplace(0.5), bits); /* same local scale */
  h0 = entropy0(q, n, bits) * n / 8;
  a = roundtrip(WLE_ADAPTIVE, q, prev, h, w, bits, NULL, "texture");
  size_t a0 = roundtrip(WLE_ADAPTIVE, q, NULL, h, w, bits, NULL, "texture");
  T_EXPECT(a0 < 0.95 * h0 && a < a0, "texture: adaptive %zu bytes (%zu without prev), entropy %.0f", a, a0, h0);
  free(q);
  free(prev);
  t_end();
}

static void test_errors(void) {
  t_begin("errors");
  int h = 8, w = 8, bits = 8;
  int16_t q[64], d[64];
  uint8_t buf[4096];
  size_t len;
  uint16_t freq[256];
  uint32_t hist[256] = {0};
  fill(q, h, w, bits, LAPLACE);
  q[5] = 100;
  for (int i = 0; i < 64; i++) hist[q[i] + 128] += q[i] != 100; /* the table misses 100 */
  T_EXPECT(wle_table_build(hist, bits, 0, freq) == WLE_OK, "table");
  T_EXPECT(wle_encode(WLE_STATIC, q, NULL, h, w, bits, freq, buf, sizeof buf, &len) == WLE_ERR_ARG,
           "static mode coded a symbol of frequency 0");
  freq[0]++; /* no longer sums to 2^15 */
  hist[100 + 128] = 1;
  T_EXPECT(wle_encode(WLE_STATIC, q, NULL, h, w, bits, freq, buf, sizeof buf, &len) == WLE_ERR_ARG,
           "static table not summing to 2^15 accepted");
  T_EXPECT(wle_encode(WLE_STATIC, q, NULL, h, w, bits, NULL, buf, sizeof buf, &len) == WLE_ERR_ARG,
           "static mode without a table");
  T_EXPECT(wle_encode(WLE_TABLE, q, NULL, h, w, 6, NULL, buf, sizeof buf, &len) == WLE_ERR_ARG,
           "value out of range accepted");
  T_EXPECT(wle_encode(WLE_MODES, q, NULL, h, w, bits, NULL, buf, sizeof buf, &len) == WLE_ERR_ARG &&
               wle_encode(WLE_TABLE, q, NULL, 0, w, bits, NULL, buf, sizeof buf, &len) == WLE_ERR_ARG &&
               wle_encode(WLE_TABLE, q, NULL, h, w, 17, NULL, buf, sizeof buf, &len) == WLE_ERR_ARG &&
               wle_decode(WLE_TABLE, buf, 0, NULL, h, w, 1, NULL, d) == WLE_ERR_ARG,
           "bad arguments accepted");
  for (int mode = WLE_TABLE; mode < WLE_MODES; mode++) {
    int rc = wle_encode(mode, q, NULL, h, w, bits, NULL, buf, sizeof buf, &len);
    T_EXPECT(rc == WLE_OK, "mode %d: %d", mode, rc);
    size_t need = len;
    T_EXPECT(wle_encode(mode, q, NULL, h, w, bits, NULL, buf, need - 1, &len) == WLE_ERR_OVERFLOW,
             "mode %d: cap one short accepted", mode);
    T_EXPECT(wle_encode(mode, q, NULL, h, w, bits, NULL, buf, need, &len) == WLE_OK && len == need,
             "mode %d: exact cap refused", mode);
  }
  t_end();
}

/* Decodes src[0..len) in a buffer of exactly len bytes (so ASan sees any over-read); the result
 * must be an error or a plane of in-range values. Returns the decoder's code. */
static int decode_any(int mode, const uint8_t *src, size_t len, const int16_t *prev, int h, int w,
                      int bits, const uint16_t *freq, const char *what) {
  uint8_t *copy = malloc(len ? len : 1);
  int16_t *d = malloc((size_t)h * w * sizeof *d);
  memcpy(copy, src, len);
  for (size_t i = 0; i < (size_t)h * w; i++) d[i] = 0;
  int rc = wle_decode(mode, copy, len, prev, h, w, bits, freq, d);
  T_EXPECT(rc == WLE_OK || rc == WLE_ERR_CORRUPT, "%s: mode %d returned %d", what, mode, rc);
  T_EXPECT(in_range(d, (size_t)h * w, bits), "%s: mode %d wrote values out of range", what, mode);
  free(copy);
  free(d);
  return rc;
}

static void test_corrupt(void) {
  t_begin("corrupt");
  static const int bitss[] = {2, 8, 16};
  for (int bi = 0; bi < 3; bi++)
    for (int mode = 0; mode < WLE_MODES; mode++) {
      int bits = bitss[bi], h = 19, w = 21;
      size_t n = (size_t)h * w, cap = wle_bound(n, bits), len;
      int16_t *q = malloc(n * sizeof *q), *prev = malloc(n * sizeof *prev);
      uint16_t *freq = malloc(sizeof(uint16_t) << bits);
      uint8_t *buf = malloc(cap + 1), *bad = malloc(cap + 1);
      fill(q, h, w, bits, LAPLACE);
      fill(prev, h, w, bits, TEXTURE);
      static_table(q, n, bits, freq);
      T_EXPECT(wle_encode(mode, q, prev, h, w, bits, freq, buf, cap, &len) == WLE_OK, "encode");
      int missed = 0;
      for (size_t cut = 0; cut < len; cut++) /* every truncation is detected */
        missed += decode_any(mode, buf, cut, prev, h, w, bits, freq, "truncated") == WLE_OK;
      T_EXPECT(!missed, "mode %d bits %d: %d truncations decoded as valid", mode, bits, missed);
      buf[len] = 0;
      T_EXPECT(decode_any(mode, buf, len + 1, prev, h, w, bits, freq, "extended") == WLE_ERR_CORRUPT,
               "mode %d bits %d: a trailing byte was accepted", mode, bits);
      int flips = 0, caught = 0;
      for (size_t pos = 0; pos < len; pos += 1 + pos / 16, flips++) {
        memcpy(bad, buf, len);
        bad[pos] ^= (uint8_t)(1u << (rnd() % 8));
        caught += decode_any(mode, bad, len, prev, h, w, bits, freq, "flipped") != WLE_OK;
      }
      T_EXPECT(caught * 10 >= flips * 9, "mode %d bits %d: only %d of %d flips detected", mode, bits, caught, flips);
      for (int trial = 0; trial < 200; trial++) { /* garbage, including small states */
        size_t glen = rnd() % (len + 8);
        for (size_t i = 0; i < glen; i++) bad[i] = (uint8_t)(trial % 3 ? rnd() : rnd() % 3);
        decode_any(mode, bad, glen, prev, h, w, bits, freq, "garbage");
      }
      free(q);
      free(prev);
      free(freq);
      free(buf);
      free(bad);
    }
  t_end();
}

static void test_best(void) {
  t_begin("encode_best");
  static const int kinds[] = {SMOOTH, TEXTURE, UNIFORM, ZERO};
  for (int ki = 0; ki < 4; ki++)
    for (int with_freq = 0; with_freq < 2; with_freq++) {
      int h = 32, w = 40, bits = 8, mode = -1;
      size_t n = (size_t)h * w, cap = wle_bound(n, bits), len, smallest = (size_t)-1;
      int16_t *q = malloc(n * sizeof *q), *d = malloc(n * sizeof *d);
      uint16_t freq[256];
      uint8_t *buf = malloc(cap);
      fill(q, h, w, bits, kinds[ki]);
      static_table(q, n, bits, freq);
      const uint16_t *f = with_freq ? freq : NULL;
      size_t l0[2] = {0, 0}; /* STATIC, TABLE */
      for (int m = f ? WLE_STATIC : WLE_TABLE; m <= WLE_PREDICTIVE; m++) {
        size_t l = roundtrip(m, q, NULL, h, w, bits, f, kind_name[kinds[ki]]);
        smallest = l && l < smallest ? l : smallest;
        if (m <= WLE_TABLE) l0[m] = l;
      }
      T_EXPECT(wle_encode_best(NULL, q, NULL, h, w, bits, f, 0, buf, cap, &len, &mode) == WLE_OK, "encode_best");
      /* 0th-order modes are skipped by an entropy floor: never one that would have won, and on a
       * tie the earliest mode wins (STATIC, then TABLE, then the context mode). */
      int first0 = l0[0] == len && f ? WLE_STATIC : l0[1] == len ? WLE_TABLE : -1;
      T_EXPECT((!f || len <= l0[0]) && len <= l0[1] && (first0 < 0 || mode == first0),
               "%s: best %zu (mode %d), static %zu, table %zu", kind_name[kinds[ki]], len, mode, l0[0], l0[1]);
      /* Only one of the two context modes is tried (chosen by a cheap stand-in): the result must
       * be that mode's or a table mode's exact size, within 2% of the smallest of all modes. */
      T_EXPECT(len >= smallest && len * 50 <= smallest * 51 && (f || mode != WLE_STATIC) &&
                   len == roundtrip(mode, q, NULL, h, w, bits, f, kind_name[kinds[ki]]),
               "%s: best %zu (mode %d), smallest %zu", kind_name[kinds[ki]], len, mode, smallest);
      T_EXPECT(wle_decode(mode, buf, len, NULL, h, w, bits, f, d) == WLE_OK && !memcmp(d, q, n * sizeof *d),
               "best stream does not decode");
      T_EXPECT(wle_encode_best(NULL, q, NULL, h, w, bits, f, 0, buf, 3, &len, &mode) == WLE_ERR_OVERFLOW,
               "3 bytes were enough");
      /* fast: WLE_BUCKETS in place of the context modes, a 0th-order mode where smaller */
      const size_t lb = roundtrip(WLE_BUCKETS, q, NULL, h, w, bits, f, kind_name[kinds[ki]]);
      T_EXPECT(wle_encode_best(NULL, q, NULL, h, w, bits, f, 1, buf, cap, &len, &mode) == WLE_OK &&
                   (mode == WLE_BUCKETS || mode <= WLE_TABLE) && len <= lb && len <= l0[1] && (!f || len <= l0[0]) &&
                   wle_decode(mode, buf, len, NULL, h, w, bits, f, d) == WLE_OK && !memcmp(d, q, n * sizeof *d),
               "%s, fast: best %zu (mode %d), buckets %zu, static %zu, table %zu", kind_name[kinds[ki]], len, mode, lb,
               l0[0], l0[1]);
      free(q);
      free(d);
      free(buf);
    }
  t_end();
}

/* wle_decode_planes against one wle_decode per plane: chains of 6 planes, each the previous
 * one's context, in WLE_BUCKETS (decoded two at once) or mixed with other modes, of heights
 * around the pair's lag of 2 rows; the same values, and the same error when a plane's stream
 * is cut short or a byte of it flipped. */
static void test_planes(void) {
  t_begin("planes: a chain decoded with WLE_BUCKETS planes two at once gives each plane's own decode");
  enum { N = 6 };
  static const int hs[] = {1, 2, 3, 4, 17}, ws[] = {1, 5, 40};
  int bad = 0, cases = 0;
  for (int bits = 8; bits <= 12; bits += 4)
    for (int hi = 0; hi < 5; hi++)
      for (int wi = 0; wi < 3; wi++)
        for (int mix = 0; mix < 2; mix++) {
          const int h = hs[hi], w = ws[wi];
          const size_t n = (size_t)h * w, cap = wle_bound(n, bits);
          int16_t *q = malloc(N * n * sizeof *q), *a = malloc(N * n * sizeof *a), *b = malloc(N * n * sizeof *b);
          uint8_t *src = malloc(N * cap), mode[N];
          uint32_t len[N];
          size_t at = 0;
          for (int c = 0; c < N; c++) {
            fill(q + c * n, h, w, bits, (c + hi + wi) % KINDS);
            size_t l = 0;
            mode[c] = (uint8_t)(mix && c % 3 == 2 ? WLE_ADAPTIVE : WLE_BUCKETS);
            if (wle_encode(mode[c], q + c * n, c ? q + (c - 1) * n : NULL, h, w, bits, NULL, src + at, cap, &l))
              mode[c] = WLE_TABLE, wle_encode(WLE_TABLE, q + c * n, NULL, h, w, bits, NULL, src + at, cap, &l);
            len[c] = (uint32_t)l;
            at += l;
          }
          for (int damage = 0; damage < 3; damage++) { /* none; plane 1's last byte flipped; plane 3 one byte short */
            if (damage == 1) src[len[0] + len[1] - 1] ^= 0x5a;
            uint32_t cut[N];
            memcpy(cut, len, sizeof cut);
            if (damage == 2) cut[3]--;
            int ra = wle_decode_planes(N, mode, src, cut, h, w, bits, NULL, a), rb = WLE_OK;
            const uint8_t *p = src;
            for (int c = 0; c < N && !rb; p += cut[c], c++)
              rb = wle_decode(mode[c], p, cut[c], c ? b + (c - 1) * n : NULL, h, w, bits, NULL, b + c * n);
            const int same = ra == rb && (ra || (!memcmp(a, b, N * n * sizeof *a) && !memcmp(a, q, N * n * sizeof *a)));
            bad += !same;
            T_EXPECT(same || bad > 3, "%d bits, %dx%d, mix %d, damage %d: %d against %d", bits, h, w, mix, damage, ra, rb);
            cases++;
          }
          free(q);
          free(a);
          free(b);
          free(src);
        }
  T_EXPECT(!bad && cases == 2 * 5 * 3 * 2 * 3, "%d of %d chains differ", bad, cases);
  t_end();
}

/* The codec encodes channels from several threads at once, each in a scratch it keeps from plane
 * to plane: results must depend on neither. The serial pass codes every plane in one scratch,
 * the parallel one without. */
static void test_threads(void) {
  t_begin("threads");
  enum { K = 8 };
  int h = 40, w = 48, bits = 8;
  size_t n = (size_t)h * w, cap = wle_bound(n, bits);
  int16_t *q = malloc(K * n * sizeof *q);
  uint8_t *ser = malloc(K * cap), *par = malloc(K * cap);
  size_t lser[K], lpar[K];
  int mser[K], mpar[K], bad = 0;
  for (int k = 0; k < K; k++) fill(q + k * n, h, w, bits, k % 2 ? TEXTURE : SMOOTH);
  wle_scratch s = {0};
  for (int k = 0; k < K; k++)
    wle_encode_best(&s, q + k * n, k ? q + (k - 1) * n : NULL, h, w, bits, NULL, 0, ser + k * cap, cap, &lser[k],
                    &mser[k]);
  wle_scratch_free(&s);
#pragma omp parallel for schedule(dynamic, 1)
  for (int k = 0; k < K; k++)
    wle_encode_best(NULL, q + k * n, k ? q + (k - 1) * n : NULL, h, w, bits, NULL, 0, par + k * cap, cap, &lpar[k],
                    &mpar[k]);
  for (int k = 0; k < K; k++)
    bad += lser[k] != lpar[k] || mser[k] != mpar[k] || memcmp(ser + k * cap, par + k * cap, lser[k]);
  T_EXPECT(!bad, "%d channels differ when encoded in parallel", bad);
  free(q);
  free(ser);
  free(par);
  t_end();
}

/* A scratch kept from plane to plane (wle_scratch) holds what the last plane left: planes of
 * other shapes, modes and bit depths coded in one scratch, its memory filled with junk before
 * each, must give the streams of coding each alone; and a chain of context-mode planes decoded
 * by wle_decode_planes (one scratch for all) the values of decoding each alone. */
static void test_scratch(void) {
  t_begin("scratch: streams and decodes independent of what a kept scratch held");
  static const int shapes[][2] = {{48, 64}, {3, 5}, {1, 300}, {90, 2}, {17, 23}, {48, 64}};
  wle_scratch s = {0};
  int bad = 0, cases = 0;
  for (int i = 0; i < 6; i++)
    for (int bits = 8; bits <= 12; bits += 4) {
      const int h = shapes[i][0], w = shapes[i][1];
      const size_t n = (size_t)h * w, cap = wle_bound(n, bits);
      int16_t *q = malloc(2 * n * sizeof *q), *d = malloc(2 * n * sizeof *d);
      uint8_t *a = malloc(2 * cap), *b = malloc(cap);
      fill(q, h, w, bits, (i + bits) % KINDS);
      fill(q + n, h, w, bits, TEXTURE);
      if (s.work) memset(s.work, 0x5a, s.work_cap);
      if (s.ev) memset(s.ev, 0x5a, s.ev_cap * sizeof *s.ev);
      if (s.trial) memset(s.trial, 0x5a, s.trial_cap);
      size_t la[2], lb = 0;
      int ma[2], mb = 0;
      for (int c = 0; c < 2; c++) {
        const int16_t *prev = c ? q : NULL;
        T_EXPECT(!wle_encode_best(&s, q + c * n, prev, h, w, bits, NULL, 0, a + c * cap, cap, &la[c], &ma[c]) &&
                     !wle_encode_best(NULL, q + c * n, prev, h, w, bits, NULL, 0, b, cap, &lb, &mb),
                 "%dx%d %d bits: encode", h, w, bits);
        const int same = la[c] == lb && ma[c] == mb && !memcmp(a + c * cap, b, lb);
        bad += !same;
        cases++;
      }
      const uint8_t mode[2] = {(uint8_t)ma[0], (uint8_t)ma[1]};
      const uint32_t len[2] = {(uint32_t)la[0], (uint32_t)la[1]};
      memmove(a + la[0], a + cap, la[1]);
      const int same = !wle_decode_planes(2, mode, a, len, h, w, bits, NULL, d) && !memcmp(d, q, 2 * n * sizeof *d);
      T_EXPECT(same, "%dx%d %d bits: the chain (modes %d, %d) decodes otherwise", h, w, bits, ma[0], ma[1]);
      free(q);
      free(d);
      free(a);
      free(b);
    }
  wle_scratch_free(&s);
  T_EXPECT(!bad && cases == 24, "%d of %d planes coded otherwise in a kept scratch", bad, cases);
  t_end();
}

/* The library's context modes (AVX2 on this CPU if it has it) and the portable scan write the same
 * stream, and each decodes the other's, on every kind of plane: the 16-bit ones take the blend's
 * errors past its weight table (2^11) and its caps (2^15, 2^16). */
static void test_portable(void) {
  t_begin("the context modes' AVX2 scan writes the portable scan's bytes");
  static const int bitss[] = {2, 8, 12, 16};
  static const int shapes[][2] = {{1, 1}, {1, 37}, {41, 1}, {17, 23}, {48, 64}};
  int bad = 0, cases = 0;
  for (int bi = 0; bi < 4; bi++)
    for (int si = 0; si < 5; si++)
      for (int kind = 0; kind < KINDS; kind++)
        for (int mode = WLE_ADAPTIVE; mode <= WLE_PREDICTIVE; mode++) {
          int bits = bitss[bi], h = shapes[si][0], w = shapes[si][1];
          size_t n = (size_t)h * w, cap = wle_bound(n, bits), la = 0, lp = 0;
          int16_t *q = malloc(n * sizeof *q), *prev = malloc(n * sizeof *prev), *d = malloc(n * sizeof *d);
          uint8_t *a = malloc(cap), *p = malloc(cap);
          fill(q, h, w, bits, kind);
          fill(prev, h, w, bits, (kind + 3) % KINDS);
          wle_io io;
          wle_io_init_enc(&io, NULL);
          int rc = wle_encode(mode, q, prev, h, w, bits, NULL, a, cap, &la);
          if (!rc && (rc = portable_code_context(&io, mode == WLE_PREDICTIVE, q, NULL, prev, h, w, bits)))
            free(io.ev);
          rc = rc ? rc : wle_io_finish_enc(&io, p, cap, &lp);
          int same = !rc && la == lp && !memcmp(a, p, la);
          memset(d, 0x55, n * sizeof *d);
          if (same && !wle_io_init_dec(&io, a, la) &&
              !portable_code_context(&io, mode == WLE_PREDICTIVE, NULL, d, prev, h, w, bits))
            same = !wle_io_finish_dec(&io) && !memcmp(d, q, n * sizeof *d);
          memset(d, 0x55, n * sizeof *d);
          same = same && !wle_decode(mode, p, lp, prev, h, w, bits, NULL, d) && !memcmp(d, q, n * sizeof *d);
          bad += !same;
          T_EXPECT(same || bad > 5, "mode %d, %d bits, %dx%d %s: the streams or their decodes differ", mode, bits,
                   h, w, kind_name[kind]);
          cases++;
          free(q);
          free(prev);
          free(d);
          free(a);
          free(p);
        }
  T_EXPECT(!bad && cases == 4 * 5 * KINDS * 2, "%d of %d planes differ", bad, cases);
  t_end();
}

/* The sums that pick the likelier context mode: AVX2 rows (where the CPU has them) against every
 * position scalar, on planes of every kind at 8 and 16 bits, the widths around a vector's 8, and
 * one row longer than a run of the AVX2 sums. */
static void test_guess(void) {
  t_begin("the context-mode guess sums the same by AVX2 rows as position by position");
  int bad = 0;
#ifdef HAVE_AVX2_GUESS
  static const int widths[] = {1, 2, 8, 9, 16, 17, 63};
  for (int bits = 8; bits <= 16 && __builtin_cpu_supports("avx2"); bits += 8)
    for (int wi = 0; wi < 7; wi++)
      for (int kind = 0; kind < KINDS; kind++) {
        const int h = 5, w = widths[wi];
        int16_t q[5 * 63];
        fill(q, h, w, bits, kind);
        long a0 = 0, p0 = 0, a1 = 0, p1 = 0;
        for (int r = 0; r < h; r++)
          for (int c = 0; c < w; c++) guess_at(q, w, r, c, &a0, &p0);
        for (int r = 0; r < h; r++) {
          guess_at(q, w, r, 0, &a1, &p1);
          for (int c = guess_row_avx2(q + r * w, w, r == 0, &a1, &p1); c < w; c++) guess_at(q, w, r, c, &a1, &p1);
        }
        bad += a0 != a1 || p0 != p1;
      }
  if (__builtin_cpu_supports("avx2")) { /* one row past the 2^20 vectors after which lanes are summed */
    const int w = (8 << 20) + 17;
    int16_t *q = malloc(sizeof *q * (size_t)w);
    long a0 = 0, p0 = 0, a1 = 0, p1 = 0;
    fill(q, 1, w, 16, UNIFORM);
    for (int c = 0; c < w; c++) guess_at(q, w, 0, c, &a0, &p0);
    guess_at(q, w, 0, 0, &a1, &p1);
    for (int c = guess_row_avx2(q, w, 1, &a1, &p1); c < w; c++) guess_at(q, w, 0, c, &a1, &p1);
    bad += a0 != a1 || p0 != p1;
    free(q);
  }
#endif
  T_EXPECT(!bad, "%d planes sum otherwise", bad);
  t_end();
}

/* The encoder's division by a multiplication (rans.h) is exact: for every frequency of 15 bits, at
 * the states where a quotient steps (k f - 1, k f) near 0, near the largest state before an event
 * (2^16 f - 1, below 2^31) and at random ones. It fails with m one smaller (2^(31 + l) / f) or
 * one larger. */
static void test_division(void) {
  t_begin("rANS encoder's division by reciprocal equals s / f for every 15-bit frequency");
  long bad = 0;
  for (uint32_t f = 1; f <= 1u << 15; f++) {
    const uint32_t m = rans_rcp(f), top = (1u << 16) * f - 1; /* x_max - 1 (rans_enc_put) */
    const uint32_t at[] = {0, 1, f - 1, f, f + 1, 2 * f - 1, 2 * f, top, top - f, top - f + 1, top / 2, rnd() % top,
                           rnd() % top, rnd() % top};
    for (size_t i = 0; i < sizeof at / sizeof at[0]; i++) bad += at[i] <= top && rans_div(at[i], f, m) != at[i] / f;
  }
  for (int i = 0; i < 1000000; i++) { /* any state below 2^31 */
    const uint32_t f = 1 + rnd() % (1u << 15), v = rnd() >> 1;
    bad += rans_div(v, f, rans_rcp(f)) != v / f;
  }
  T_EXPECT(!bad, "%ld quotients differ", bad);
  t_end();
}

int main(void) {
  test_division();
  test_table_build();
  test_roundtrip();
  test_compression();
  test_errors();
  test_corrupt();
  test_best();
  test_planes();
  test_threads();
  test_scratch();
  test_portable();
  test_guess();
  return t_summary();
}
