/* Context-adaptive coding (WLE_ADAPTIVE, WLE_PREDICTIVE): a raster scan that binarises each symbol
 * (the value, or its residual from a blended spatial predictor) into a zero flag, a sign and an
 * adaptive Exp-Golomb magnitude (coder.h), each decision with a model picked by the local activity. */
#include <pthread.h>
#include <stddef.h>
#include <stdlib.h>

#include "entropy/coder.h"
#include "entropy/entropy.h"

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
IO_INLINE int64_t blend(const int32_t sp[NSUB], const uint16_t *err, const uint32_t *top, uint32_t *act) {
  int64_t num = 0, den = 0, eden = 0;
  for (int k = 0; k < NSUB; k++) {
    uint32_t ek = top[k] + 2u * err[k - NSUB] + err[k - 2 * NSUB];
    ek = ek < 32767u ? ek : 32767u;
    int64_t wk = ek < WEIGHTS ? wt[ek] : weight(ek);
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
  uint32_t *T;  /* the current row's sums of errors above (row_errors) */
} planes;

/* Returns the prediction of pixel o (0 in WLE_ADAPTIVE) and its activity bucket in *c; sp receives
 * the sub-predictions. WLE_ADAPTIVE's activity is a weighted sum of magnitudes, the nearest twice:
 * left, top (x2), top-left, top-right, left-left, top-top, and of the previous channel the co-located
 * value (x2) and its four neighbours. WLE_PREDICTIVE's is the blend's expected error (eighths) / 8. */
IO_INLINE int predict(const planes *pl, int predictive, ptrdiff_t o, int x, int bits, int32_t sp[NSUB],
                      unsigned *c) {
  ptrdiff_t ws = pl->ws;
  const int16_t *s = pl->S + o, *p = pl->P + o;
  if (!predictive) {
    *c = bucket(2u * (unsigned)(iabs(s[-1]) + iabs(s[-ws])) +
                (unsigned)(iabs(s[-ws - 1]) + iabs(s[-ws + 1]) + iabs(s[-2]) + iabs(s[-2 * ws])) +
                2u * (unsigned)p[0] + (unsigned)(p[-1] + p[1] + p[-ws] + p[ws]));
    return 0;
  }
  uint32_t act;
  subpredict(pl->V + o, ws, sp);
  int64_t pred8 = blend(sp, pl->E + o * NSUB, pl->T + (size_t)x * NSUB, &act);
  *c = bucket(act / 8);
  int pred = (int)((pred8 + (pred8 < 0 ? -4 : 4)) / 8), half = 1 << (bits - 1);
  return pred < -half ? -half : pred >= half ? half - 1 : pred;
}

/* The raster scan: codes every pixel of planes pl through io. Always inlined, so that
 * wle_code_context makes one copy per direction and mode, each with dec and predictive constant. */
IO_INLINE int scan(wle_io *io, int predictive, planes pl, model *m, const int16_t *in, int16_t *out,
                   const int16_t *prev, int h, int w, int bits) {
  int rc = WLE_OK;
  for (int y = 0; y < h && !rc; y++) {
    if (!io->dec && wle_io_reserve(io, (size_t)w * WLE_CONTEXT_EVENTS(bits))) rc = io->err;
    if (predictive) row_errors(pl.T, pl.E + y * pl.ws * NSUB, pl.ws, w);
    for (int x = 0; x < w && !rc; x++) {
      size_t i = (size_t)y * (size_t)w + (size_t)x;
      ptrdiff_t o = y * pl.ws + x;
      int32_t sp[NSUB];
      unsigned c;
      int pred = predict(&pl, predictive, o, x, bits, sp, &c);
      unsigned sc = 9 * sgn3(pl.S[o - 1]) + 3 * sgn3(pl.S[o - pl.ws]) + sgn3(prev ? prev[i] : 0);
      int sv = code_symbol(io, m, c, sc, bits, io->dec ? 0 : wrap(in[i] - pred, bits));
      rc = io->err;
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

int wle_code_context(wle_io *io, int predictive, const int16_t *in, int16_t *out,
                     const int16_t *prev, int h, int w, int bits) {
  ptrdiff_t ws = w + 2 * PAD;
  size_t np = (size_t)(h + 2 * PAD) * (size_t)ws, o0 = PAD * (size_t)ws + PAD;
  int16_t *buf = calloc((predictive ? 3 : 2) * np, sizeof *buf);
  uint16_t *err = predictive ? calloc(NSUB * np, sizeof *err) : NULL;
  uint32_t *top = predictive ? malloc(NSUB * sizeof *top * (size_t)w) : NULL;
  model *m = malloc(sizeof *m);
  if (!buf || !m || (predictive && (!err || !top))) {
    free(buf);
    free(err);
    free(top);
    free(m);
    return WLE_ERR_NOMEM;
  }
  if (predictive) pthread_once(&wt_once, wt_fill);
  planes pl = {ws, buf + o0, buf + np + o0, buf + (predictive ? 2 * np : 0) + o0,
               predictive ? err + NSUB * o0 : NULL, top};
  io_bit_init(&m->zero[0], sizeof *m / sizeof(io_bit_model));
  for (int y = 0; y < h && prev; y++)
    for (int x = 0; x < w; x++) {
      int pv = prev[(size_t)y * (size_t)w + (size_t)x];
      pl.P[y * pl.ws + x] = (int16_t)(pv < 0 ? -(pv + 1) : pv); /* |pv|, 2^15 - 1 for -2^15 */
    }
  int rc;
  if (io->dec) { /* a copy whose dec the compiler knows, its state in registers */
    wle_io d = *io;
    d.dec = 1;
    rc = predictive ? scan(&d, 1, pl, m, in, out, prev, h, w, bits) : scan(&d, 0, pl, m, in, out, prev, h, w, bits);
    *io = d;
  } else {
    rc = predictive ? scan(io, 1, pl, m, in, out, prev, h, w, bits) : scan(io, 0, pl, m, in, out, prev, h, w, bits);
  }
  free(buf);
  free(err);
  free(top);
  free(m);
  return rc;
}
