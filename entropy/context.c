/* Context-adaptive coding (WLE_ADAPTIVE, WLE_PREDICTIVE): a raster scan that binarises each symbol
 * (the value, or its residual from a blended spatial predictor) into a zero flag, a sign and an
 * adaptive Exp-Golomb magnitude (coder.h), each decision with a model picked by the local activity. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "entropy/coder.h"
#include "entropy/entropy.h"
/* WLE_CONTEXT_PORTABLE: only the portable scan (the test that compares the two builds one). */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(WLE_CONTEXT_PORTABLE)
#include <immintrin.h>
#define HAVE_AVX2_SCAN 1
#endif

/* Activity buckets: 0..3 exact, then two per octave (4, 6, 8, 12, ...), the last one open from
 * 384 up. Fewer merge distinct scales; more split the ~10^4 symbols of a plane so thinly that
 * learning the extra models costs more than they save (measured on latent-like planes). */
#define NACT 18
/* Sign contexts: the signs (-, 0, +) of the left and top symbols and of the previous channel. */
#define NSIGN 27
/* Planes are stored with PAD zero rows and columns around them, so every neighbour read below is
 * in bounds and out-of-image neighbours are 0 without tests. */
#define PAD 2

typedef struct {
  io_bit_model zero[NACT], sign[NSIGN], cls[NACT][15], man[16][IO_MAN_NODES]; /* kmax <= 15 */
} model;

static inline unsigned bucket(unsigned a) {
  if (a < 4) return a;
  unsigned e = 31u - (unsigned)__builtin_clz(a); /* e >= 2 */
  unsigned b = 2 * e + ((a >> (e - 1)) & 1);
  return b < NACT ? b : NACT - 1;
}

static inline int iabs(int v) { return v < 0 ? -v : v; }
static inline unsigned sgn3(int v) { return (unsigned)((v > 0) - (v < 0) + 1); }

/* WLE_PREDICTIVE predicts from NSUB sub-predictors (in eighths, so the averages stay exact), each
 * good somewhere: W and N on strong vertical / horizontal structure, the planes W + N - NW and
 * W + NE - N on gradients, N + NE - NNE along the top row's slope, the means (W + N) / 2 and
 * (W + NE) / 2 where noise dominates, and 0 for channels with no spatial structure. */
#define NSUB 8
static inline void subpredict(const int16_t *v, ptrdiff_t ws, int32_t sp[NSUB]) {
  int32_t W = v[-1], N = v[-ws], NW = v[-ws - 1], NE = v[-ws + 1], NNE = v[-2 * ws + 1];
  sp[0] = 8 * W;
  sp[1] = 8 * N;
  sp[2] = 8 * (W + N - NW);
  sp[3] = 8 * (W + NE - N);
  sp[4] = 8 * (N + NE - NNE);
  sp[5] = 4 * (W + N);
  sp[6] = 4 * (W + NE);
  sp[7] = 0;
}

/* Blends the sub-predictions with weights 2^31 / (1 + E_k)^2, E_k the k-th sub-predictor's absolute
 * errors (eighths) at the causal neighbours W, N (counted twice), NW, NE, WW, NN: whichever
 * predictor has been right nearby dominates. The errors are kept interleaved, NSUB per position;
 * top holds each position's sum over the rows above (2 N + NW + NE + NN, made once per row by
 * row_errors), so a position adds only its left neighbours. Returns the prediction in eighths;
 * *act receives the weighted mean of E_k, the blend's expected error.
 * E_k is capped below 2^15 so weights stay in [2, 2^31]; |sp_k| < 2^20, so sums fit 64 bits.
 * The weights of E_k < WEIGHTS, the common case, come from a table made once (wt_once), so
 * that most take no division. */
#define WEIGHTS 2048
static inline uint32_t weight(uint32_t ek) { return (1u << 31) / ((ek + 1) * (ek + 1)); }
static uint32_t wt[WEIGHTS];
static pthread_once_t wt_once = PTHREAD_ONCE_INIT;
static void wt_fill(void) {
  for (uint32_t e = 0; e < WEIGHTS; e++) wt[e] = weight(e);
}
static inline uint32_t weight_of(uint32_t ek) { return ek < WEIGHTS ? wt[ek] : weight(ek); }
IO_INLINE int64_t blend(const int32_t sp[NSUB], const uint16_t *err, const uint32_t *top, uint32_t *act) {
  int64_t num = 0, den = 0, eden = 0;
  for (int k = 0; k < NSUB; k++) {
    uint32_t ek = top[k] + 2u * err[k - NSUB] + err[k - 2 * NSUB];
    ek = ek < 32767u ? ek : 32767u;
    int64_t wk = weight_of(ek);
    num += wk * sp[k];
    den += wk;
    eden += wk * ek;
  }
  *act = (uint32_t)(eden / den);
  return (num + (num < 0 ? -den : den) / 2) / den; /* rounded half away from zero */
}

/* top[x NSUB + k] = 2 N + NW + NE + NN of sub-predictor k's errors, for the w positions of the
 * row whose first position's errors are at err. */
static void row_errors(uint32_t *top, const uint16_t *err, ptrdiff_t ws, int w) {
  const uint16_t *n = err - ws * NSUB, *nn = err - 2 * ws * NSUB;
  for (ptrdiff_t j = 0; j < (ptrdiff_t)w * NSUB; j++)
    top[j] = 2u * n[j] + n[j - NSUB] + n[j + NSUB] + nn[j];
}

/* Codes symbol sv (given when encoding; decoded and returned otherwise) in activity bucket c:
 * zero flag, sign, then |sv| - 1 in [0, 2^(bits-1)) with io_uint. Sets io->err on +2^(bits-1),
 * the one magnitude that only a corrupt stream can give a positive symbol. */
IO_INLINE int code_symbol(wle_io *io, model *m, unsigned c, unsigned sc, int bits, int sv) {
  if (!io_bit(io, &m->zero[c], sv != 0)) return 0;
  int neg = io_bit(io, &m->sign[sc], sv < 0);
  int mag = (int)io_uint(io, m->cls[c], m->man, (unsigned)bits - 1, (uint32_t)(iabs(sv) - 1)) + 1;
  if (!neg && mag == 1 << (bits - 1)) {
    io->err = WLE_ERR_CORRUPT;
    mag--;
  }
  return neg ? -mag : mag;
}

/* Values and residuals are taken modulo 2^bits into [-2^(bits-1), 2^(bits-1)). */
static inline int wrap(int v, int bits) {
  int half = 1 << (bits - 1);
  return (int)((unsigned)(v + half) & ((1u << bits) - 1)) - half;
}

/* The scan's planes, padded (PAD) and pointing at pixel (0, 0); E is NULL in WLE_ADAPTIVE. */
typedef struct {
  ptrdiff_t ws; /* row stride */
  int16_t *S;   /* coded symbols: values (WLE_ADAPTIVE) or residuals (WLE_PREDICTIVE) */
  int16_t *P;   /* |previous channel|, 0 without one */
  int16_t *V;   /* values (S itself in WLE_ADAPTIVE) */
  uint16_t *E;  /* each sub-predictor's absolute error (eighths), NSUB per position */
  uint32_t *T;  /* the current row's sums from the rows above: errors (row_errors), activity (row_activity) */
} planes;

/* The blend's prediction pred8 (eighths) rounded half away from zero to a value of `bits` bits. */
static inline int prediction(int64_t pred8, int bits) {
  int pred = (int)((pred8 + (pred8 < 0 ? -4 : 4)) / 8), half = 1 << (bits - 1);
  return pred < -half ? -half : pred >= half ? half - 1 : pred;
}

#ifdef HAVE_AVX2_SCAN
/* row_activity's positions 8 at a time; returns how many it made (a multiple of 8). */
__attribute__((target("avx2"))) static int row_activity_avx2(uint32_t *act_above, const int16_t *s, const int16_t *p,
                                                             ptrdiff_t ws, int w) {
#define AT(q, d) _mm256_cvtepi16_epi32(_mm_loadu_si128((const __m128i *)((q) + x + (d))))
  int x = 0;
  for (; x + 8 <= w; x += 8) {
    __m256i n = _mm256_abs_epi32(AT(s, -ws)), c = AT(p, 0);
    __m256i a = _mm256_add_epi32(_mm256_add_epi32(_mm256_add_epi32(n, n), _mm256_add_epi32(c, c)),
                                 _mm256_add_epi32(_mm256_abs_epi32(AT(s, -ws - 1)), _mm256_abs_epi32(AT(s, -ws + 1))));
    a = _mm256_add_epi32(a, _mm256_add_epi32(_mm256_abs_epi32(AT(s, -2 * ws)), _mm256_add_epi32(AT(p, -1), AT(p, 1))));
    a = _mm256_add_epi32(a, _mm256_add_epi32(AT(p, -ws), AT(p, ws)));
    _mm256_storeu_si256((__m256i *)(act_above + x), a);
  }
#undef AT
  return x;
}
#endif

/* WLE_ADAPTIVE's activity is a weighted sum of magnitudes, the nearest twice: left, top (x2),
 * top-left, top-right, left-left, top-top, and of the previous channel the co-located value (x2)
 * and its four neighbours. act_above[x] = its part that the rows above and the previous channel
 * give, made once per row; the scan adds 2 |left| + |left-left|. */
void wle_row_activity(uint32_t *act_above, const int16_t *s, const int16_t *p, ptrdiff_t ws, int w) {
  int x = 0;
#ifdef HAVE_AVX2_SCAN
  if (__builtin_cpu_supports("avx2")) x = row_activity_avx2(act_above, s, p, ws, w);
#endif
  for (; x < w; x++)
    act_above[x] = 2u * (unsigned)iabs(s[x - ws]) + (unsigned)(iabs(s[x - ws - 1]) + iabs(s[x - ws + 1]) + iabs(s[x - 2 * ws])) +
                   2u * (unsigned)p[x] + (unsigned)(p[x - 1] + p[x + 1] + p[x - ws] + p[x + ws]);
}

/* WLE_PREDICTIVE: returns the prediction of pixel o and its activity bucket in *c, the blend's
 * expected error (eighths) / 8; sp receives the sub-predictions. */
IO_INLINE int predict(const planes *pl, ptrdiff_t o, int x, int bits, int32_t sp[NSUB], unsigned *c) {
  uint32_t act;
  subpredict(pl->V + o, pl->ws, sp);
  int64_t pred8 = blend(sp, pl->E + o * NSUB, pl->T + (size_t)x * NSUB, &act);
  *c = bucket(act / 8);
  return prediction(pred8, bits);
}

/* The raster scan: codes every pixel of planes pl through io. Always inlined, so that
 * wle_code_context makes one copy per direction and mode, each with dec and predictive constant. */
IO_INLINE int scan(wle_io *io, int predictive, planes pl, model *m, const int16_t *in, int16_t *out,
                   const int16_t *prev, int h, int w, int bits) {
  int rc = WLE_OK;
  for (int y = 0; y < h && !rc; y++) {
    if (predictive) row_errors(pl.T, pl.E + y * pl.ws * NSUB, pl.ws, w);
    else wle_row_activity(pl.T, pl.S + y * pl.ws, pl.P + y * pl.ws, pl.ws, w);
    int sW = 0, aWW = 0; /* the symbols to the left (padding at the row's start), in registers */
    for (int x = 0; x < w && !rc; x++) {
      size_t i = (size_t)y * (size_t)w + (size_t)x;
      ptrdiff_t o = y * pl.ws + x;
      int32_t sp[NSUB];
      unsigned c;
      int pred = 0;
      if (predictive) pred = predict(&pl, o, x, bits, sp, &c);
      else c = bucket(pl.T[x] + 2u * (unsigned)iabs(sW) + (unsigned)aWW);
      unsigned sc = 9 * sgn3(sW) + 3 * sgn3(pl.S[o - pl.ws]) + sgn3(prev ? prev[i] : 0);
      int sv = code_symbol(io, m, c, sc, bits, io->dec ? 0 : wrap(in[i] - pred, bits));
      rc = io->err;
      aWW = iabs(sW);
      sW = sv;
      pl.S[o] = (int16_t)sv;
      pl.V[o] = (int16_t)wrap(pred + sv, bits);
      if (out) out[i] = pl.V[o];
      for (int k = 0; k < NSUB && predictive; k++) {
        int32_t d = sp[k] - 8 * pl.V[o];
        d = d < 0 ? -d : d;
        pl.E[o * NSUB + k] = (uint16_t)(d < 65535 ? d : 65535);
      }
    }
  }
  return rc;
}

#ifdef HAVE_AVX2_SCAN
/* scan()'s WLE_PREDICTIVE planes with the NSUB sub-predictors in the lanes of one AVX2 vector: the
 * same integers in the same sums, so the same predictions, buckets and stream, bit for bit (a
 * test compares the two). The rows above are read as they are (no row_errors); W's and WW's
 * errors stay in registers. Where every error nearby is 0, so are the values and sub-predictions
 * they came from: the blend would give prediction 0 and bucket 0, and is skipped. That covers
 * most positions of the sparse high channels. */
__attribute__((target("avx2"))) IO_INLINE int scan_avx2(wle_io *io, planes pl, model *m, const int16_t *in,
                                                        int16_t *out, const int16_t *prev, int h, int w,
                                                        int bits) {
  const ptrdiff_t ws = pl.ws;
  /* sp = (NW, N) . c1 + (N, NE) . c2 + (NNE, _) . c3 (int16 pairs, _mm256_madd_epi16) + W cw */
  const __m256i c1 = _mm256_setr_epi16(0, 0, 0, 8, -8, 8, 0, -8, 0, 8, 0, 4, 0, 0, 0, 0);
  const __m256i c2 = _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 8, 0, 8, 0, 0, 0, 4, 0, 0);
  const __m256i c3 = _mm256_setr_epi16(0, 0, 0, 0, 0, 0, 0, 0, -8, 0, 0, 0, 0, 0, 0, 0);
  const __m256i cw = _mm256_setr_epi32(8, 0, 8, 8, 0, 4, 4, 0);
  const __m256i emax = _mm256_set1_epi32(32767), wmax = _mm256_set1_epi32(WEIGHTS - 1);
  /* sp + 2^20 >= 0 (|sp| < 2^20), so that unsigned 32 x 32 -> 64-bit products serve */
  const __m256i bias = _mm256_set1_epi32(1 << 20), lo32 = _mm256_set1_epi64x(0xffffffff);
  int rc = WLE_OK;
  for (int y = 0; y < h && !rc; y++) {
    __m256i eW = _mm256_setzero_si256(), eWW = eW; /* the padding's errors */
    int W = 0;
    for (int x = 0; x < w && !rc; x++) {
      size_t i = (size_t)y * (size_t)w + (size_t)x;
      ptrdiff_t o = y * ws + x;
      const int16_t *v = pl.V + o;
      const uint16_t *n = pl.E + (o - ws) * NSUB;
      int32_t nw_n, n_ne, nne;
      memcpy(&nw_n, v - ws - 1, 4);
      memcpy(&n_ne, v - ws, 4);
      memcpy(&nne, v - 2 * ws + 1, 4);
      __m256i sp = _mm256_add_epi32(_mm256_add_epi32(_mm256_madd_epi16(_mm256_set1_epi32(nw_n), c1),
                                                     _mm256_madd_epi16(_mm256_set1_epi32(n_ne), c2)),
                                    _mm256_madd_epi16(_mm256_set1_epi32(nne), c3));
      sp = _mm256_add_epi32(sp, _mm256_mullo_epi32(_mm256_set1_epi32(W), cw));
      __m256i en = _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)n));
      __m256i top = _mm256_add_epi32(
          _mm256_add_epi32(_mm256_add_epi32(en, en), _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(n - NSUB)))),
          _mm256_add_epi32(_mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(n + NSUB))),
                           _mm256_cvtepu16_epi32(_mm_loadu_si128((const __m128i *)(n - ws * NSUB)))));
      __m256i ek = _mm256_min_epu32(_mm256_add_epi32(top, _mm256_add_epi32(_mm256_add_epi32(eW, eW), eWW)), emax);
      unsigned c = 0;
      int pred = 0;
      if (!_mm256_testz_si256(ek, ek)) {
        __m256i wk;
        if (_mm256_movemask_epi8(_mm256_cmpgt_epi32(ek, wmax))) {
          uint32_t a[NSUB];
          _mm256_storeu_si256((__m256i *)a, ek);
          for (int k = 0; k < NSUB; k++) a[k] = weight_of(a[k]);
          wk = _mm256_loadu_si256((const __m256i *)a);
        } else {
          wk = _mm256_i32gather_epi32((const int *)wt, ek, 4);
        }
        __m256i wh = _mm256_srli_epi64(wk, 32), spb = _mm256_add_epi32(sp, bias);
        __m256i ed = _mm256_add_epi64(_mm256_mul_epu32(wk, ek), _mm256_mul_epu32(wh, _mm256_srli_epi64(ek, 32)));
        __m256i nm = _mm256_add_epi64(_mm256_mul_epu32(wk, spb), _mm256_mul_epu32(wh, _mm256_srli_epi64(spb, 32)));
        __m256i dn = _mm256_add_epi64(_mm256_and_si256(wk, lo32), wh);
        __m256i t = _mm256_add_epi64(_mm256_unpacklo_epi64(ed, dn), _mm256_unpackhi_epi64(ed, dn));
        __m128i t2 = _mm_add_epi64(_mm256_castsi256_si128(t), _mm256_extracti128_si256(t, 1));
        __m128i u2 = _mm_add_epi64(_mm256_castsi256_si128(nm), _mm256_extracti128_si256(nm, 1));
        int64_t eden = _mm_cvtsi128_si64(t2), den = _mm_extract_epi64(t2, 1);
        int64_t num = (int64_t)((uint64_t)_mm_cvtsi128_si64(u2) + (uint64_t)_mm_extract_epi64(u2, 1) -
                                ((uint64_t)den << 20));
        c = bucket((uint32_t)(eden / den) / 8);
        pred = prediction((num + (num < 0 ? -den : den) / 2) / den, bits);
      }
      unsigned sc = 9 * sgn3(pl.S[o - 1]) + 3 * sgn3(pl.S[o - ws]) + sgn3(prev ? prev[i] : 0);
      int sv = code_symbol(io, m, c, sc, bits, io->dec ? 0 : wrap(in[i] - pred, bits));
      rc = io->err;
      pl.S[o] = (int16_t)sv;
      W = wrap(pred + sv, bits);
      pl.V[o] = (int16_t)W;
      if (out) out[i] = (int16_t)W;
      __m256i d = _mm256_min_epu32(_mm256_abs_epi32(_mm256_sub_epi32(sp, _mm256_set1_epi32(8 * W))),
                                   _mm256_set1_epi32(65535));
      eWW = eW;
      eW = d;
      _mm_storeu_si128((__m128i *)(pl.E + o * NSUB),
                       _mm_packus_epi32(_mm256_castsi256_si128(d), _mm256_extracti128_si256(d, 1)));
    }
  }
  return rc;
}
/* One copy per direction, each with dec constant and the coder's state in registers (a local copy
 * of it, which no call sees). */
__attribute__((target("avx2"))) static int scan_avx2_dec(wle_io *io, planes pl, model *m, int16_t *out,
                                                         const int16_t *prev, int h, int w, int bits) {
  wle_io d = *io;
  d.dec = 1;
  const int rc = scan_avx2(&d, pl, m, NULL, out, prev, h, w, bits);
  *io = d;
  return rc;
}
__attribute__((target("avx2"))) static int scan_avx2_enc(wle_io *io, planes pl, model *m, const int16_t *in,
                                                         const int16_t *prev, int h, int w, int bits) {
  wle_io d = *io;
  d.dec = 0;
  const int rc = scan_avx2(&d, pl, m, in, NULL, prev, h, w, bits);
  *io = d;
  return rc;
}
#endif

/* Zeroes what a scan reads of a plane but never writes: the PAD rows above and below its h rows
 * and the PAD columns either side (rows of ws positions of esz bytes; all of it when whole). */
static void zero_padding(void *plane, int h, int w, ptrdiff_t ws, size_t esz, int whole) {
  char *p = plane;
  const size_t row = (size_t)ws * esz, right = (size_t)(ws - w - PAD) * esz;
  if (whole) {
    memset(p, 0, row * (size_t)(h + 2 * PAD));
    return;
  }
  memset(p, 0, row * PAD);
  for (int y = PAD; y < h + PAD; y++) {
    memset(p + row * (size_t)y, 0, PAD * esz);
    memset(p + row * (size_t)y + (size_t)(w + PAD) * esz, 0, right);
  }
  memset(p + row * (size_t)(h + PAD), 0, row * PAD);
}

int wle_code_context(wle_io *io, int predictive, const int16_t *in, int16_t *out,
                     const int16_t *prev, int h, int w, int bits) {
  ptrdiff_t ws = w + 2 * PAD;
  size_t np = (size_t)(h + 2 * PAD) * (size_t)ws, o0 = PAD * (size_t)ws + PAD;
  /* one block: the planes, the errors, the row sums and the models, each 64-byte aligned */
  const size_t nbuf = ((predictive ? 3 : 2) * np * sizeof(int16_t) + 63) & ~(size_t)63,
               nerr = ((predictive ? NSUB * np : 0) * sizeof(uint16_t) + 63) & ~(size_t)63,
               ntop = ((predictive ? NSUB : 1) * sizeof(uint32_t) * (size_t)w + 63) & ~(size_t)63;
  char *work = wle_io_work(io, nbuf + nerr + ntop + sizeof(model));
  if (!work) return WLE_ERR_NOMEM;
  int16_t *buf = (int16_t *)work;
  uint16_t *err = predictive ? (uint16_t *)(work + nbuf) : NULL;
  uint32_t *top = (uint32_t *)(work + nbuf + nerr);
  model *m = (model *)(work + nbuf + nerr + ntop);
  if (predictive) pthread_once(&wt_once, wt_fill);
  planes pl = {ws, buf + o0, buf + np + o0, buf + (predictive ? 2 * np : 0) + o0,
               predictive ? err + NSUB * o0 : NULL, top};
  zero_padding(buf, h, w, ws, sizeof *buf, 0);                    /* S */
  zero_padding(buf + np, h, w, ws, sizeof *buf, !prev);           /* P */
  if (predictive) zero_padding(buf + 2 * np, h, w, ws, sizeof *buf, 0); /* V */
  if (predictive) zero_padding(err, h, w, ws, NSUB * sizeof *err, 0);
  io_bit_init(&m->zero[0], sizeof *m / sizeof(io_bit_model));
  for (int y = 0; y < h && prev; y++)
    for (int x = 0; x < w; x++) {
      int pv = prev[(size_t)y * (size_t)w + (size_t)x];
      pl.P[y * pl.ws + x] = (int16_t)(pv < 0 ? -(pv + 1) : pv); /* |pv|, 2^15 - 1 for -2^15 */
    }
  /* the encoder's events for the whole plane reserved at once: no call inside the scans */
  int rc = !io->dec && wle_io_reserve(io, (size_t)h * (size_t)w * WLE_CONTEXT_EVENTS(bits)) ? io->err : WLE_OK;
  if (rc) {
    wle_io_work_done(io, work);
    return rc;
  }
#ifdef HAVE_AVX2_SCAN
  if (predictive && __builtin_cpu_supports("avx2"))
    rc = io->dec ? scan_avx2_dec(io, pl, m, out, prev, h, w, bits) : scan_avx2_enc(io, pl, m, in, prev, h, w, bits);
  else
#endif
  { /* a copy whose dec the compiler knows, its state in registers */
    wle_io d = *io;
    if (d.dec) {
      d.dec = 1;
      rc = predictive ? scan(&d, 1, pl, m, in, out, prev, h, w, bits) : scan(&d, 0, pl, m, in, out, prev, h, w, bits);
    } else {
      d.dec = 0;
      rc = predictive ? scan(&d, 1, pl, m, in, out, prev, h, w, bits) : scan(&d, 0, pl, m, in, out, prev, h, w, bits);
    }
    *io = d;
  }
  wle_io_work_done(io, work);
  return rc;
}
