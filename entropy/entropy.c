/* Public entry points: argument checks, mode dispatch, the stream-size bound, best-mode search. */
#include "entropy/entropy.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "entropy/coder.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_GUESS 1
#endif

/* Every event costs at most 15 bits: a static symbol of frequency 1, a raw event of the WLE_TABLE
 * header (<= 13 bits), or a decision of the context modes (adaptive: <= IO_BIT_COST_MAX = 12 bits,
 * raw: <= bits - 4 <= 12 bits); plus under 1/128 bit of rANS rounding per event (rans.h) and the 4
 * state bytes. This is a proof, not an estimate: typical streams are 10-50x smaller. */
size_t wle_bound(size_t n, int bits) {
  if (bits < 2 || bits > 16) bits = 16;
  size_t used = n < ((size_t)1 << bits) ? n : (size_t)1 << bits;
  size_t table_ev = n + 4 + used * WLE_HEADER_EVENTS(bits), context_ev = n * WLE_CONTEXT_EVENTS(bits);
  size_t table = 15 * table_ev, context = IO_BIT_COST_MAX * context_ev;
  size_t most = (table > context ? table : context) + (table_ev + context_ev) / 128 + 1;
  return (most + 7) / 8 + 4;
}

static int check(int mode, int h, int w, int bits, const uint16_t *freq) {
  if (mode < 0 || mode >= WLE_MODES || bits < 2 || bits > 16 || h < 1 || w < 1) return WLE_ERR_ARG;
  if ((size_t)h * (size_t)w > WLE_MAX_VALUES || (mode == WLE_STATIC && !freq)) return WLE_ERR_ARG;
  return WLE_OK;
}

static int code(wle_io *io, int mode, const int16_t *in, int16_t *out, const int16_t *prev, int h,
                int w, int bits, const uint16_t *freq) {
  if (mode == WLE_STATIC || mode == WLE_TABLE)
    return wle_code_table(io, mode, in, out, (size_t)h * (size_t)w, bits, freq);
  if (mode == WLE_BUCKETS) return wle_code_buckets(io, in, out, prev, h, w, bits);
  return wle_code_context(io, mode == WLE_PREDICTIVE, in, out, prev, h, w, bits);
}

/* wle_encode in scratch s (NULL: none). */
static int encode_in(wle_scratch *s, int mode, const int16_t *q, const int16_t *prev, int h, int w, int bits,
                     const uint16_t *freq, uint8_t *dst, size_t cap, size_t *len) {
  int rc = check(mode, h, w, bits, freq);
  if (rc || !q || !dst || !len) return rc ? rc : WLE_ERR_ARG;
  int half = 1 << (bits - 1);
  for (size_t i = 0; i < (size_t)h * (size_t)w; i++)
    if (q[i] < -half || q[i] >= half) return WLE_ERR_ARG;
  wle_io io;
  wle_io_init_enc(&io, s);
  rc = code(&io, mode, q, NULL, prev, h, w, bits, freq);
  if (rc) wle_io_drop(&io);
  return rc ? rc : wle_io_finish_enc(&io, dst, cap, len);
}

int wle_encode(int mode, const int16_t *q, const int16_t *prev, int h, int w, int bits,
               const uint16_t *freq, uint8_t *dst, size_t cap, size_t *len) {
  return encode_in(NULL, mode, q, prev, h, w, bits, freq, dst, cap, len);
}

/* wle_decode in scratch s (NULL: none). */
static int decode_in(wle_scratch *s, int mode, const uint8_t *src, size_t len, const int16_t *prev, int h, int w,
                     int bits, const uint16_t *freq, int16_t *q) {
  int rc = check(mode, h, w, bits, freq);
  if (rc || !src || !q) return rc ? rc : WLE_ERR_ARG;
  wle_io io;
  rc = wle_io_init_dec(&io, src, len);
  io.s = s;
  if (!rc) rc = code(&io, mode, NULL, q, prev, h, w, bits, freq);
  return rc ? rc : wle_io_finish_dec(&io);
}

int wle_decode(int mode, const uint8_t *src, size_t len, const int16_t *prev, int h, int w, int bits,
               const uint16_t *freq, int16_t *q) {
  return decode_in(NULL, mode, src, len, prev, h, w, bits, freq, q);
}

/* Planes c and c + 1 of wle_decode_planes, both WLE_BUCKETS: a and b, la and lb bytes. */
static int decode_pair(const uint8_t *a, size_t la, const uint8_t *b, size_t lb, const int16_t *prev, int h, int w,
                       int bits, int16_t *q) {
  int rc = check(WLE_BUCKETS, h, w, bits, NULL);
  wle_io ia, ib;
  if (rc || (rc = wle_io_init_dec(&ia, a, la)) || (rc = wle_io_init_dec(&ib, b, lb))) return rc;
  rc = wle_decode_buckets_pair(&ia, &ib, prev, q, h, w, bits);
  if (!rc) rc = wle_io_finish_dec(&ia);
  return rc ? rc : wle_io_finish_dec(&ib);
}

int wle_decode_planes(int n, const uint8_t *mode, const uint8_t *src, const uint32_t *len, int h, int w, int bits,
                      const uint16_t *freq, int16_t *q) {
  if (n < 0 || (n && (!mode || !src || !len || !q))) return WLE_ERR_ARG;
  const size_t P = (size_t)h * (size_t)w;
  int rc = WLE_OK;
  wle_scratch s = {0}; /* the context modes' planes, made once for all n */
  for (int c = 0; c < n && !rc;) {
    const int16_t *prev = c ? q + (size_t)(c - 1) * P : NULL;
    if (c + 1 < n && mode[c] == WLE_BUCKETS && mode[c + 1] == WLE_BUCKETS) {
      rc = decode_pair(src, len[c], src + len[c], len[c + 1], prev, h, w, bits, q + c * P);
      src += len[c] + len[c + 1];
      c += 2;
    } else {
      rc = decode_in(&s, mode[c], src, len[c], prev, h, w, bits, freq ? freq + ((size_t)c << bits) : NULL, q + c * P);
      src += len[c++];
    }
  }
  wle_scratch_free(&s);
  return rc;
}

static int bitlen(int v) { return v ? 32 - __builtin_clz((unsigned)(v < 0 ? -v : v)) : 0; }

#ifdef HAVE_AVX2_GUESS
/* bitlen of eight values below 2^24 in magnitude: a float's exponent is floor(log2 |v|) */
__attribute__((target("avx2"))) static inline __m256i bitlen8(__m256i v) {
  const __m256i e = _mm256_srli_epi32(_mm256_castps_si256(_mm256_cvtepi32_ps(_mm256_abs_epi32(v))), 23);
  return _mm256_max_epi32(_mm256_sub_epi32(e, _mm256_set1_epi32(126)), _mm256_setzero_si256());
}

/* likelier_context_mode's sums over row v's positions 1 .. 8k (the row above at v - w, or none:
 * zeros, when first), adding to *adaptive and *predictive; returns the first position it left.
 * MED is the median of W, N and W + N - NW. */
__attribute__((target("avx2"))) static int guess_row_avx2(const int16_t *v, int w, int first, long *adaptive,
                                                          long *predictive) {
#define AT(d) _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)(v + c + (d))))
  const __m256i zero = _mm256_setzero_si256();
  int c = 1;
  while (c + 8 <= w) { /* runs of at most 2^20 vectors: a lane's sums stay below 17 2^20 */
    __m256i sa = zero, sp = zero;
    for (int n = 0; n < 1 << 20 && c + 8 <= w; n++, c += 8) {
      const __m256i x = AT(0), W = AT(-1), N = first ? zero : AT(-w), NW = first ? zero : AT(-w - 1);
      const __m256i pred = _mm256_max_epi32(_mm256_min_epi32(W, N), _mm256_min_epi32(_mm256_max_epi32(W, N),
                                                                                       _mm256_sub_epi32(_mm256_add_epi32(W, N), NW)));
      sa = _mm256_add_epi32(sa, bitlen8(x));
      sp = _mm256_add_epi32(sp, bitlen8(_mm256_sub_epi32(x, pred)));
    }
    int32_t ea[8], ep[8];
    _mm256_storeu_si256((__m256i *)ea, sa);
    _mm256_storeu_si256((__m256i *)ep, sp);
    for (int k = 0; k < 8; k++) *adaptive += ea[k], *predictive += ep[k];
  }
#undef AT
  return c;
}
#endif

/* Position (r, c) of likelier_context_mode's sums. */
static inline void guess_at(const int16_t *q, int w, int r, int c, long *adaptive, long *predictive) {
  const int16_t *v = q + (size_t)r * w + c;
  int W = c ? v[-1] : 0, N = r ? v[-w] : 0, NW = r && c ? v[-w - 1] : 0;
  int hi = W > N ? W : N, lo = W > N ? N : W;
  int pred = NW >= hi ? lo : NW <= lo ? hi : W + N - NW;
  *adaptive += bitlen(*v);
  *predictive += bitlen(*v - pred);
}

/* Which context mode to try: context modelling is most of the encoder's entropy time, so
 * only the likelier winner is coded. The stand-in for each mode's size is the summed bit
 * length of what it codes: the values (ADAPTIVE) or their residuals from the MED predictor
 * (PREDICTIVE). On the validation latents this costs 0.1% against coding both. */
static int likelier_context_mode(const int16_t *q, int h, int w) {
  long adaptive = 0, predictive = 0;
#ifdef HAVE_AVX2_GUESS
  const int avx2 = __builtin_cpu_supports("avx2");
#endif
  for (int r = 0; r < h; r++) {
    guess_at(q, w, r, 0, &adaptive, &predictive);
    int c = 1;
#ifdef HAVE_AVX2_GUESS
    if (avx2) c = guess_row_avx2(q + (size_t)r * w, w, r == 0, &adaptive, &predictive);
#endif
    for (; c < w; c++) guess_at(q, w, r, c, &adaptive, &predictive);
  }
  return predictive < adaptive ? WLE_PREDICTIVE : WLE_ADAPTIVE;
}

/* A lower bound on the bytes of any 0th-order stream of q[0..n) (WLE_STATIC, WLE_TABLE): no table
 * codes below the empirical entropy n H (Gibbs), and rANS loses at most log2(256/255) < 0.0057
 * bits per event to rounding (rans.h: the state is at least 256 freq before each event).
 * Returns 0 (no bound) when out of memory or a value is out of range. */
static size_t order0_floor(const int16_t *q, size_t n, int bits) {
  const int half = 1 << (bits - 1);
  uint32_t *count = calloc((size_t)1 << bits, sizeof *count);
  if (!count) return 0;
  for (size_t i = 0; i < n; i++) {
    if (q[i] < -half || q[i] >= half) { /* out of range: wle_encode refuses the plane */
      free(count);
      return 0;
    }
    count[q[i] + half]++;
  }
  double H = 0;
  for (size_t v = 0; v < (size_t)1 << bits; v++)
    if (count[v]) H += count[v] * log2((double)n / count[v]);
  free(count);
  double b = (H - 0.0057 * (double)n) / 8 - 1;
  return b > 0 ? (size_t)b : 0;
}

/* The smallest stream of the modes, the earliest mode on a tie. The likelier context mode (the
 * other is not tried) is coded first, with the whole room; a 0th-order mode then gets only the
 * room in which it would win, and is skipped when its entropy floor does not fit there, which it
 * rarely does on latents (context modes win 321 of 324 planes of the validation photos). Modes
 * that cannot code the plane (WLE_ERR_ARG) are skipped. */
int wle_encode_best(wle_scratch *s, const int16_t *q, const int16_t *prev, int h, int w, int bits,
                    const uint16_t *freq, int fast, uint8_t *dst, size_t cap, size_t *len, int *mode) {
  if (!q || !dst || !len || !mode) return WLE_ERR_ARG;
  if (check(WLE_TABLE, h, w, bits, NULL)) return WLE_ERR_ARG;
  wle_scratch own = {0};
  if (!s) s = &own;
  uint8_t *tmp = wle_grow(&s->trial, &s->trial_cap, cap ? cap : 1);
  if (!tmp) return WLE_ERR_NOMEM;
  const int order[3] = {fast ? WLE_BUCKETS : likelier_context_mode(q, h, w), WLE_STATIC, WLE_TABLE};
  const size_t floor0 = order0_floor(q, (size_t)h * (size_t)w, bits);
  size_t room = cap; /* the largest stream that would still be chosen */
  int rc = WLE_ERR_ARG;
  for (int i = 0; i < 3; i++) {
    const int m = order[i];
    size_t n;
    if ((m == WLE_STATIC && !freq) || (m != order[0] && floor0 > room)) continue;
    int r = encode_in(s, m, q, prev, h, w, bits, freq, tmp, room, &n);
    if (r == WLE_OK) {
      memcpy(dst, tmp, n);
      *len = n;
      *mode = m;
      rc = WLE_OK;
      room = m == order[0] ? n : n - 1; /* a 0th-order mode ties with the context mode, not with STATIC */
    } else if (r == WLE_ERR_NOMEM) {
      rc = r;
      break;
    } else if (r == WLE_ERR_OVERFLOW && rc == WLE_ERR_ARG) {
      rc = r;
    }
  }
  wle_scratch_free(&own);
  return rc;
}
