/* wpt.c: CDF 9/7 lifting, transposed too, and the wavelet packet tree on it (layout in wpt.h).
 * One kernel serves rows (samples are single floats) and columns (samples are whole rows);
 * a level is a column phase (2-D only) then a row phase, each out of place, ping-ponging
 * between the output and one scratch buffer so that the last phase lands in the output. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "wavelet/wpt.h"
/* The kernels are compiled for AVX2 too and picked at run time (WL_CLONES, wpt.h). */
#define INLINE inline __attribute__((always_inline))
#ifdef _OPENMP
#include <omp.h>
#define WL_NTHREADS() omp_get_max_threads()
#define WL_TID() omp_get_thread_num()
#else
#define WL_NTHREADS() 1
#define WL_TID() 0
#endif

/* CDF 9/7 lifting factors alpha, beta, gamma, delta: Daubechies & Sweldens, "Factoring wavelet
 * transforms into lifting steps", J. Fourier Anal. Appl. 4(3), 1998, sec. 7.8; digits from
 * ISO/IEC 15444-1 (JPEG 2000) Annex F, Table F.4, where K = 1.230174104914001.
 * With s[i] = x[2i], d[i] = x[2i+1] (indices mod n = half length):
 *   d[i] += alpha (s[i] + s[i+1]);   s[i] += beta  (d[i-1] + d[i]);
 *   d[i] += gamma (s[i] + s[i+1]);   s[i] += delta (d[i-1] + d[i]);
 *   cA = zeta s,  cD = -d / zeta,  zeta = sqrt 2 / K (the paper's zeta = 1.149604398).
 * The scaling and the sign of cD turn JPEG 2000's normalisation (DC gain 1, Nyquist gain 2)
 * into pywt's bior4.4 (sqrt 2 and -sqrt 2); no sample shift is needed. The scaling is folded
 * into the last two steps, each y = p y + c (u + u'): the third gives cD = -(d + gamma ..)/zeta
 * directly, the fourth cA = zeta s - zeta^2 delta (cD[i-1] + cD[i]). The inverse undoes the
 * steps from the last: y = (y - c (u + u')) / p.
 * Transposes: step k, y_i = p_k y_i + c_k (u_i + u_{i+o}), has transpose u_j += c_k (y_j +
 * y_{j-o}), y *= p_k: it writes the array the step read, with the offset negated. F^T runs
 * them from step 3 down, deferring each y *= p_k into the next step, which writes y:
 * u_j = p_{k+1} u_j + c_k (y_j + y_{j-o}), p_4 = 1; the last, p_0, is 1. G^T = (F^T)^-1 runs
 * steps 0..3 with those (p_{k+1}, c_k) inverted as above (each inverse step's scale moved
 * into the step before it, which writes its y; the first, 1/p_0, is 1). */
#define ALPHA (-1.586134342059924)
#define BETA (-0.052980118572961)
#define GAMMA 0.882911075530934
#define DELTA 0.443506852043971
#define ZETA (1.4142135623730951 / 1.230174104914001)
static const float lift_pc[4][2] = { /* forward step: p, c */
    {1, (float)ALPHA}, {1, (float)BETA}, {(float)(-1 / ZETA), (float)(-GAMMA / ZETA)},
    {(float)ZETA, (float)(-ZETA * ZETA * DELTA)}};

/* y[k] = p y[k] + c (a[k] + b[k]), k < m */
static INLINE void axpy2(float *restrict y, const float *restrict a, const float *restrict b, float p,
                  float c, size_t m) {
#pragma omp simd
  for (size_t k = 0; k < m; k++) y[k] = p * y[k] + c * (a[k] + b[k]);
}

/* One lifting step on rows i < n of w floats, st floats apart (in place in y):
 *   y_i = p y_i + c (u_i + u_{i+o}),  o = +1 or -1, i + o mod n.
 * When st == w the n - 1 rows that do not wrap are one flat loop. */
static INLINE void lift_step(float *y, const float *u, size_t n, size_t w, size_t st, int o, float p,
                      float c) {
  int flat = st == w;
  size_t k = o > 0 ? 0 : 1, e = o > 0 ? n - 1 : 0; /* first unwrapped row, the wrapped one */
  float *y0 = y + k * st;
  const float *a0 = u + k * st, *b0 = u + (1 - k) * st;
  for (size_t i = 0; i < (flat ? 1 : n - 1); i++)
    axpy2(y0 + i * st, a0 + i * st, b0 + i * st, p, c, flat ? (n - 1) * w : w);
  axpy2(y + e * st, u + e * st, u + (n - 1 - e) * st, p, c, w);
}

/* The four lifting steps in place on s, d: n rows of w floats, st apart. dir = +1 takes
 * (x[2i], x[2i+1]) to (cA, cD), -1 back; adj = 0 for F (+1) and G (-1), 1 for G^T (+1) and
 * F^T (-1). Even steps predict d from s, odd ones update s; transposed, the other way round. */
static INLINE void lift(float *s, float *d, size_t n, size_t w, size_t st, int dir, int adj) {
  for (int t = 0; t < 4; t++) {
    int k = dir > 0 ? t : 3 - t;
    float p = adj ? (k < 3 ? lift_pc[k + 1][0] : 1) : lift_pc[k][0], c = lift_pc[k][1];
    if ((dir < 0) != adj) c = -c / p, p = 1 / p;
    if ((k % 2 == 0) != adj) lift_step(d, s, n, w, st, +1, p, c);
    else lift_step(s, d, n, w, st, -1, p, c);
  }
}

/* y[i][0..w) = x[i][0..w) for i < rows; rows are ys and xs floats apart. With map = {a, b},
 * y = a x + b instead (the input's scaling, done as the samples are first read). */
static INLINE void copy_rows(float *restrict y, size_t ys, const float *restrict x, size_t xs,
                             size_t rows, size_t w, const float *map) {
  if (map) {
    for (size_t i = 0; i < rows; i++)
#pragma omp simd
      for (size_t k = 0; k < w; k++) y[i * ys + k] = x[i * xs + k] * map[0] + map[1];
  } else if (ys == w && xs == w) {
    memcpy(y, x, rows * w * sizeof(float));
  } else {
    for (size_t i = 0; i < rows; i++) memcpy(y + i * ys, x + i * xs, w * sizeof(float));
  }
}

/* x [2n][w] -> even rows s [n][w], odd rows d [n][w]; rows of x xs floats apart, of s and d
 * ys apart. Rows of single floats deinterleave in one vector loop; wider ones are copied
 * (mapped by copy_rows' map). */
static INLINE void split(const float *restrict x, size_t xs, float *restrict s, float *restrict d,
                         size_t ys, size_t n, size_t w, const float *map) {
  if (w == 1 && xs == 1 && ys == 1 && !map) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) s[i] = x[2 * i], d[i] = x[2 * i + 1];
  } else {
    copy_rows(s, ys, x, 2 * xs, n, w, map);
    copy_rows(d, ys, x + xs, 2 * xs, n, w, map);
  }
}

/* The inverse of split. */
static INLINE void merge(const float *restrict s, const float *restrict d, size_t ys, float *restrict x,
                  size_t xs, size_t n, size_t w) {
  if (w == 1 && xs == 1 && ys == 1) {
#pragma omp simd
    for (size_t i = 0; i < n; i++) x[2 * i] = s[i], x[2 * i + 1] = d[i];
  } else {
    copy_rows(x, 2 * xs, s, ys, n, w, NULL);
    copy_rows(x + xs, 2 * xs, d, ys, n, w, NULL);
  }
}

/* The steps of a long row of single floats s, d [n], as lift() runs them: step t of the
 * forward map, or of the inverse (t = 0..3 undoing forward steps 3..0), is
 *   d_i = p d_i + c (s_i + s_i+1)  when it updates d,   s_i = p s_i + c (d_i + d_i-1)  else. */
typedef struct { float p, c; int upd_d; } row_step;
static row_step row_step_of(int t, int inverse) {
  int k = inverse ? 3 - t : t;
  float p = lift_pc[k][0], c = lift_pc[k][1];
  if (inverse) c = -c / p, p = 1 / p;
  return (row_step){p, c, k % 2 == 0};
}

/* Element i of a step, indices mod n. */
static INLINE void row_step_at(row_step f, float *s, float *d, size_t n, size_t i) {
  if (f.upd_d) axpy2(d + i, s + i, s + (i == n - 1 ? 0 : i + 1), f.p, f.c, 1);
  else axpy2(s + i, d + i, d + (i ? i - 1 : n - 1), f.p, f.c, 1);
}

/* Elements [i0, i1) of a step, none of which wraps. */
static INLINE void row_step_range(row_step f, float *s, float *d, size_t i0, size_t i1) {
  if (i1 <= i0) return;
  if (f.upd_d) axpy2(d + i0, s + i0, s + i0 + 1, f.p, f.c, i1 - i0);
  else axpy2(s + i0, d + i0, d + i0 - 1, f.p, f.c, i1 - i0);
}

/* Advances each step t to j1 - lag[t] from next[t] (see below). */
static INLINE void row_steps_upto(float *s, float *d, size_t *next, const size_t *lag, size_t j1, int inverse) {
  for (int t = 0; t < 4; t++)
    if (j1 - lag[t] > next[t]) row_step_range(row_step_of(t, inverse), s, d, next[t], j1 - lag[t]), next[t] = j1 - lag[t];
}

/* The deferred elements, in order: step t at i, or at n - i when from_end. */
typedef struct { int t, from_end; size_t i; } row_deferred;
static INLINE void row_steps_deferred(float *s, float *d, size_t n, const row_deferred *r, size_t count, int inverse) {
  for (size_t k = 0; k < count; k++)
    row_step_at(row_step_of(r[k].t, inverse), s, d, n, r[k].from_end ? n - r[k].i : r[k].i);
}

/* Long rows (n > BLOCK) in one pass, BLOCK samples at a time, so that a row larger than the
 * caches is read and written once instead of five or six times (shorter rows stay in L1 through
 * the plain passes, which are faster there). After the inputs up to j1 are in place, step t
 * runs from next[t] up to j1 - lag[t], which only reads values in the state step t expects; the
 * elements whose wrapped neighbour is in a later state are done at the end, in dependency
 * order. Every element sees the same operations on the same operands as in lift():
 * bit-identical (tests/test_wavelet.c checks golden hashes recorded from the plain loops).
 * Forward: x [2n] split into s, d, then the four forward steps. Blocks of 256 pairs transform a
 * 4M-sample row 20% faster than blocks of 1024 did (0.49 against 0.62 ns a sample and level;
 * 128 and 256 alike, 64 and 512 slower).
 * In place (s = x; wpt1_fwd_inplace): the first block's inputs, which its s overlaps, are
 * copied to tmp (2 BLOCK floats) first, mapped by copy_rows' map if given, and split from
 * there; a later block [j0, j1) reads its inputs x_2j0 .. x_2j1-1 where they lie (mapped the
 * same way as it reads), all at or above 2 j0 >= j1, while the split and the steps write only
 * s and d below j1: no input is overwritten before it is read. */
#define BLOCK 256
static INLINE void dwt_fwd_row(const float *x, float *s, float *restrict d, size_t n, float *restrict tmp,
                               const float *map) {
  static const size_t lag[4] = {1, 1, 2, 2};
  size_t next[4] = {0, 1, 1, 2};
  for (size_t j0 = 0; j0 < n; j0 += BLOCK) {
    size_t j1 = n - j0 < BLOCK ? n : j0 + BLOCK;
    const float *in = x + 2 * j0, *m = map;
    if (tmp && !j0) copy_rows(tmp, 2 * (j1 - j0), in, 2 * (j1 - j0), 1, 2 * (j1 - j0), map), in = tmp, m = NULL;
    if (m) {
#pragma omp simd
      for (size_t i = j0; i < j1; i++) s[i] = in[2 * (i - j0)] * m[0] + m[1], d[i] = in[2 * (i - j0) + 1] * m[0] + m[1];
    } else {
#pragma omp simd
      for (size_t i = j0; i < j1; i++) s[i] = in[2 * (i - j0)], d[i] = in[2 * (i - j0) + 1];
    }
    row_steps_upto(s, d, next, lag, j1, 0);
  }
  static const row_deferred rest[] = {{0, 1, 1}, {1, 0, 0}, {1, 1, 1}, {2, 1, 1}, {2, 0, 0},
                                      {2, 1, 2}, {3, 0, 0}, {3, 0, 1}, {3, 1, 2}, {3, 1, 1}};
  row_steps_deferred(s, d, n, rest, sizeof rest / sizeof rest[0], 0);
}

/* Inverse: cA a, cD b [n] copied into work s, d, the four inverse steps, merged into x [2n].
 * The first step's wrapped neighbour of s_0 is b_n-1, still untouched, so it runs at once;
 * x_2i, x_2i+1 are written as soon as s_i and d_i are final. */
static INLINE void dwt_inv_row(const float *restrict a, const float *restrict b, float *restrict s,
                        float *restrict d, float *restrict x, size_t n) {
  static const size_t lag[4] = {0, 1, 1, 2};
  size_t next[4] = {1, 0, 1, 1}, merged = 1;
  const row_step f0 = row_step_of(0, 1);
  for (size_t j0 = 0; j0 < n; j0 += BLOCK) {
    size_t j1 = n - j0 < BLOCK ? n : j0 + BLOCK;
    memcpy(s + j0, a + j0, (j1 - j0) * sizeof(float));
    memcpy(d + j0, b + j0, (j1 - j0) * sizeof(float));
    if (!j0) axpy2(s, d, b + n - 1, f0.p, f0.c, 1);
    row_steps_upto(s, d, next, lag, j1, 1);
#pragma omp simd
    for (size_t i = merged; i < next[3]; i++) x[2 * i] = s[i], x[2 * i + 1] = d[i];
    merged = next[3];
  }
  static const row_deferred rest[] = {{1, 1, 1}, {2, 0, 0}, {2, 1, 1}, {3, 0, 0}, {3, 1, 2}, {3, 1, 1}};
  row_steps_deferred(s, d, n, rest, sizeof rest / sizeof rest[0], 1);
  for (size_t i = 0; i < n; i = i ? i + 1 : n - 2) x[2 * i] = s[i], x[2 * i + 1] = d[i];
}

/* One periodized bior4.4 split along the row axis: x [2n][w] -> cA a [n][w], cD b [n][w],
 * rows xs and as floats apart (adj = 1: the transpose of dwt_inv's map instead); map: see
 * copy_rows. */
static WL_CLONES void dwt_fwd(const float *x, size_t xs, float *a, float *b, size_t as, size_t n,
                           size_t w, int adj, const float *map) {
  if (w == 1 && xs == 1 && as == 1 && !adj && !map && n > BLOCK) return dwt_fwd_row(x, a, b, n, NULL, NULL);
  split(x, xs, a, b, as, n, w, map);
  lift(a, b, n, w, as, +1, adj);
}

/* Its inverse, through work s, d [n][w] (contiguous): a, b -> x (adj = 1: the transpose of
 * dwt_fwd's map; split and merge are permutations, each the other's transpose). */
static WL_CLONES void dwt_inv(const float *a, const float *b, size_t as, float *s, float *d, float *x,
                    size_t xs, size_t n, size_t w, int adj) {
  if (w == 1 && xs == 1 && as == 1 && !adj && n > BLOCK) return dwt_inv_row(a, b, s, d, x, n);
  copy_rows(s, w, a, as, n, w, NULL);
  copy_rows(d, w, b, as, n, w, NULL);
  lift(s, d, n, w, w, -1, adj);
  merge(s, d, w, x, xs, n, w);
}

/* The phases of a level, all alike: src holds nb bands of [h][w]; out of place, src only read.
 * Columns go in strips of up to STRIP floats, so that a task's h x STRIP floats stay in L2
 * through the lifting passes; work holds slot(h, w) floats per thread, enough for a strip or
 * a row. adj = 1 makes the _fwd phase the transpose of the _inv one and vice versa; par = 0
 * runs it on the calling thread alone (work then needs one slot). */
typedef void phase_fn(const float *src, float *dst, size_t nb, size_t h, size_t w, float *work,
                      int adj, int par);
#define STRIP 64
static size_t slot(size_t h, size_t w) { return h * STRIP + w; }

/* Column phase of a 2-D level: x [nb][h][w] -> X [nb][2][h/2][w] (low rows, high rows);
 * map: the input's scaling (see copy_rows), or NULL. */
static void cols_fwd_map(const float *x, float *X, size_t nb, size_t h, size_t w, int adj, int par,
                         const float *map) {
  size_t hw = h * w, ns = (w + STRIP - 1) / STRIP;
#pragma omp parallel for if (par)
  for (size_t t = 0; t < nb * ns; t++) {
    size_t o = t / ns * hw + t % ns * STRIP, sw = w - t % ns * STRIP;
    dwt_fwd(x + o, w, X + o, X + o + hw / 2, w, h / 2, sw < STRIP ? sw : STRIP, adj, map);
  }
}

static void cols_fwd(const float *x, float *X, size_t nb, size_t h, size_t w, float *work,
                     int adj, int par) {
  (void)work;
  cols_fwd_map(x, X, nb, h, w, adj, par, NULL);
}

static void cols_inv(const float *X, float *x, size_t nb, size_t h, size_t w, float *work,
                     int adj, int par) {
  size_t hw = h * w, ns = (w + STRIP - 1) / STRIP;
#pragma omp parallel for if (par)
  for (size_t t = 0; t < nb * ns; t++) {
    size_t o = t / ns * hw + t % ns * STRIP, sw = w - t % ns * STRIP;
    sw = sw < STRIP ? sw : STRIP;
    float *s = work + (size_t)WL_TID() * slot(h, w);
    dwt_inv(X + o, X + o + hw / 2, w, s, s + h / 2 * sw, x + o, w, h / 2, sw, adj);
  }
}

/* Row phase: the R = nb h rows of x [R][w] -> X of rows [w/2], P = h rows per parent band.
 * Row r goes to rows q = r + (r/P) P (cA) and q + P (cD): parent band g = r/P of P rows
 * becomes bands 2g and 2g+1 of P rows each. In 1-D P = 1 (band g -> 2g 'a', 2g+1 'd'); in
 * 2-D the parent is a column-phase half-band (P = h rows: h/2 low, h/2 high), so band b's
 * low rows go to 4b ('a') and 4b+2 ('v'), its high rows to 4b+1 ('h') and 4b+3 ('d'). */
static void rows_fwd(const float *x, float *X, size_t nb, size_t h, size_t w, float *work,
                     int adj, int par) {
  size_t n = w / 2;
  (void)work;
#pragma omp parallel for if (par)
  for (size_t r = 0; r < nb * h; r++) {
    float *a = X + (r + r / h * h) * n;
    dwt_fwd(x + r * w, 1, a, a + h * n, 1, n, 1, adj, NULL);
  }
}

static void rows_inv(const float *X, float *x, size_t nb, size_t h, size_t w, float *work,
                     int adj, int par) {
  size_t n = w / 2;
#pragma omp parallel for if (par)
  for (size_t r = 0; r < nb * h; r++) {
    const float *a = X + (r + r / h * h) * n;
    float *s = work + (size_t)WL_TID() * slot(h, w);
    dwt_inv(a, a + h * n, 1, s, s + n, x + r * w, 1, n, 1, adj);
  }
}

/* Checks arguments (1-D passes H = 1) and returns the sample count C*H*W, or 0 if invalid. */
static size_t count(const void *in, const void *out, int C, int H, int W, int J, int dims) {
  if (!in || !out || C < 1 || H < 1 || W < 1 || J < 1 || J > (dims == 2 ? 6 : 10)) return 0;
  if (W % (1 << J) || (dims == 2 && H % (1 << J))) return 0;
  size_t ch = (size_t)C * (size_t)H;
  if (ch > SIZE_MAX / 2 / sizeof(float) / (size_t)W) return 0;
  return ch * (size_t)W;
}

/* Phase q of P (see wpt) on the bands of one of div equal parts of the signal, src to dst;
 * map (the input's scaling, 2-D forward only) applies to phase 0. */
static void run_phase(int q, int P, int dims, int dir, int adj, int C, int H, int W, size_t div,
                      const float *src, float *dst, float *work, int par, const float *map) {
  static phase_fn *const phase[2][2] = {{rows_inv, cols_inv}, {rows_fwd, cols_fwd}};
  int p = dir > 0 ? q : P - 1 - q, l = p / dims, col = dims == 2 && p % 2 == 0;
  size_t nb = ((size_t)C << (dims * l)) / div, h = dims == 2 ? (size_t)H >> l : 1, w = (size_t)W >> l;
  if (map && q == 0) cols_fwd_map(src, dst, nb, h, w, adj, par, map);
  else phase[dir > 0][col](src, dst, nb, h, w, work, adj, par);
}

/* Bands of at most this many floats are transformed depth first: each band's own subtree of
 * phases while it (and its scratch half) stays in a core's L2, instead of every band once
 * per phase through memory. */
#define BAND_FLOATS ((size_t)1 << 17)

/* L0: the first level whose bands (h x w, 2-D; w, 1-D) hold at most BAND_FLOATS, or J. */
static int band_level(int H, int W, int J, int dims) {
  int L0 = 0;
  while (L0 < J && (dims == 2 ? (size_t)(H >> L0) : 1) * (size_t)(W >> L0) > BAND_FLOATS) L0++;
  return L0;
}

/* The packet transform: J levels of dims phases (columns in 2-D, then rows), in that order
 * for dir = +1 and reversed for the inverse. Level l has nb = C 2^(dims l) bands of h x w,
 * h = H >> l in 2-D and 1 in 1-D, w = W >> l. Phase q writes buf[q & 1], out or one scratch,
 * chosen so that the last lands in out and the first does not write in (in place, in == out:
 * the first writes the scratch, and an odd phase count ends with one copy back). adj = 1
 * transposes each phase: F^T = (P_last .. P_1)^T runs the transposed phases from the last, as
 * the inverse does (dir = -1); G^T as F does (+1). A band's phases read and write only its own
 * range of each buffer, so from level L0, the first whose bands hold at most BAND_FLOATS,
 * phases run band by band (in parallel over the bands): the same operations on the same
 * values, in another order. */
static int wpt(const float *in, int C, int H, int W, int J, int dims, int dir, int adj,
               float *out, float *scratch, size_t len) {
  size_t N = count(in, out, C, H, W, J, dims);
  if (!N) return WPT_ERR_ARG;
  const size_t need = dims == 1 && dir > 0 ? wl_wpt1_forward_scratch_floats(C, W) : wl_wpt_scratch_floats(C, H, W);
  float *tmp = len >= need ? scratch : malloc(need * sizeof(float));
  if (!tmp) return WPT_ERR_NOMEM;
  const int P = dims * J;
  float *buf[2], *work = tmp + N;
  buf[in == out ? 1 : (P - 1) & 1] = out;
  buf[in == out ? 0 : P & 1] = tmp;
  const int L0 = band_level(H, W, J, dims);
  const int qa = dir > 0 ? dims * L0 : 0, qb = dir > 0 ? P : P - dims * L0; /* band by band */
  const size_t nb0 = (size_t)C << (dims * L0), band = N / nb0, wslot = slot((size_t)H, (size_t)W);
  const float *src = in;
  for (int q = 0; q < P; q++) {
    if (q != qa || qa == qb) {
      run_phase(q, P, dims, dir, adj, C, H, W, 1, src, buf[q & 1], work, 1, NULL);
      src = buf[q & 1];
      continue;
    }
#pragma omp parallel for
    for (size_t b = 0; b < nb0; b++) {
      const float *s = src + b * band;
      for (int k = qa; k < qb; k++) {
        run_phase(k, P, dims, dir, adj, C, H, W, nb0, s, buf[k & 1] + b * band, work + (size_t)WL_TID() * wslot, 0,
                  NULL);
        s = buf[k & 1] + b * band;
      }
    }
    src = buf[(qb - 1) & 1];
    q = qb - 1;
  }
  if (src != out) memcpy(out, src, N * sizeof(float));
  if (tmp != scratch) free(tmp);
  return 0;
}

/* The 2-D forward transform without a second signal-sized buffer. Levels before L0 run in place
 * on out (the first reads in, mapped): a column strip is copied to the thread's work and split
 * back into place; a band's rows are lifted in order, each row copied to work first, its cA
 * written in place (over rows already read) and its cD to a side buffer, copied after the last
 * row. Levels from L0 run band by band as in wpt, alternating between the band's range of out
 * and a band-sized scratch of the thread, so that the last lands in out. Per thread the largest
 * of a band (from L0), a strip and a row with its side buffer (before L0), in the same memory:
 * the levels before L0 are done before those from it begin (a plain encode's fresh memory,
 * codec/models/README.md, session 35). The same operations on the same values as wpt. */
static size_t fwd2_thread_floats(int H, int W, int J, int *L0p, size_t *bandp) {
  const int L0 = band_level(H, W, J, 2);
  size_t band = L0 < J ? (size_t)(H >> L0) * (size_t)(W >> L0) : 0, most = 0;
  for (int l = 0; l < L0; l++) {
    size_t h = (size_t)H >> l, w = (size_t)W >> l, cols = slot(h, w), rows = w + h * w / 2;
    most = most > cols ? most : cols;
    most = most > rows ? most : rows;
  }
  *L0p = L0;
  *bandp = band;
  return band > most ? band : most;
}

static void cols_fwd_inplace(float *X, size_t nb, size_t h, size_t w, float *work, size_t per, const float *map) {
  size_t hw = h * w, ns = (w + STRIP - 1) / STRIP;
#pragma omp parallel for
  for (size_t t = 0; t < nb * ns; t++) {
    size_t o = t / ns * hw + t % ns * STRIP, sw = w - t % ns * STRIP;
    sw = sw < STRIP ? sw : STRIP;
    float *s = work + (size_t)WL_TID() * per;
    copy_rows(s, sw, X + o, w, h, sw, map);
    dwt_fwd(s, sw, X + o, X + o + hw / 2, w, h / 2, sw, 0, NULL);
  }
}

static void rows_fwd_inplace(float *X, size_t nb, size_t h, size_t w, float *work, size_t per) {
  const size_t n = w / 2;
#pragma omp parallel for
  for (size_t g = 0; g < nb; g++) {
    float *row = work + (size_t)WL_TID() * per, *cd = row + w, *band = X + g * h * w;
    for (size_t r = 0; r < h; r++) {
      memcpy(row, band + r * w, w * sizeof(float));
      dwt_fwd(row, 1, band + r * n, cd + r * n, 1, n, 1, 0, NULL);
    }
    memcpy(band + h * n, cd, h * n * sizeof(float));
  }
}

static int wpt2_fwd(const float *in, int C, int H, int W, int J, float *out, const float *map) {
  const size_t N = count(in, out, C, H, W, J, 2);
  if (!N) return WPT_ERR_ARG;
  int L0;
  size_t band;
  const size_t per = fwd2_thread_floats(H, W, J, &L0, &band);
  float *work = malloc((size_t)WL_NTHREADS() * per * sizeof(float));
  if (!work) return WPT_ERR_NOMEM;
  const float *src = in;
  for (int l = 0; l < L0; l++) {
    size_t nb = (size_t)C << (2 * l), h = (size_t)H >> l, w = (size_t)W >> l;
    if (src != out) cols_fwd_map(src, out, nb, h, w, 0, 1, map);
    else cols_fwd_inplace(out, nb, h, w, work, per, map);
    rows_fwd_inplace(out, nb, h, w, work, per);
    src = out;
    map = NULL;
  }
  const int P = 2 * J;
  const size_t nb0 = (size_t)C << (2 * L0);
#pragma omp parallel for
  for (size_t b = 0; b < (L0 < J ? nb0 : 0); b++) {
    float *own = work + (size_t)WL_TID() * per;
    const float *s = src + b * band;
    for (int k = 2 * L0; k < P; k++) { /* P - 2 L0 phases, even: the first writes own */
      float *dst = (P - 1 - k) % 2 ? own : out + b * band;
      run_phase(k, P, 2, +1, 0, C, H, W, nb0, s, dst, NULL, 0, map);
      s = dst;
    }
  }
  free(work);
  return 0;
}

/* One band of w = 2n floats at x split in place: cA over its first half, cD over the second,
 * through the thread's side (n floats) and tmp (2 BLOCK floats); map scales the inputs. The
 * same operations as dwt_fwd from another buffer: a long row in blocks (dwt_fwd_row), a short
 * one copied to tmp whole first. With fuse, cD is split too, on its way out of side (or from
 * tmp): a long band's cD crosses memory once, not once to side and once split. */
static WL_CLONES void split_inplace(float *x, size_t n, float *side, float *tmp, const float *map, int fuse) {
  if (n > BLOCK) {
    dwt_fwd_row(x, x, side, n, tmp, map);
    if (fuse) dwt_fwd(side, 1, x + n, x + n + n / 2, 1, n / 2, 1, 0, NULL);
    else memcpy(x + n, side, n * sizeof(float));
  } else {
    copy_rows(tmp, 2 * n, x, 2 * n, 1, 2 * n, map);
    dwt_fwd(tmp, 1, x, x + n, 1, n, 1, 0, NULL);
    if (fuse) split_inplace(x + n, n / 2, side, tmp, NULL, 0);
  }
}

size_t wl_wpt1_inplace_floats(int T) { return (size_t)T / 2 + 2 * BLOCK; }

/* Whether band b of its level is split in its own turn. A split in its turn splits its cD too
 * (split_inplace's fuse), so an odd band whose parent was split in its turn is done already:
 * the bands whose trailing ones are odd in number. */
static int own_turn(size_t b) { return __builtin_ctzll(~(unsigned long long)b) % 2 == 0; }

/* Band b (of level l) of the channel at x, w floats, at its turn. */
static void split_turn(float *x, size_t b, size_t w, int l, int J, float *side, float *tmp, const float *map) {
  if (own_turn(b)) split_inplace(x + b * w, w / 2, side, tmp, l ? NULL : map, l + 1 < J);
}

/* Band b of level l of the channel at x and every band under it, depth first: the band at its
 * turn, then each half's subtree, so that a half is split while the cache still holds it. */
static void subtree(float *x, size_t b, int l, int T, int J, float *side, const float *map) {
  if (l == J) return;
  split_turn(x, b, (size_t)T >> l, l, J, side, side + T / 2, map);
  subtree(x, 2 * b, l + 1, T, J, side, map);
  subtree(x, 2 * b + 1, l + 1, T, J, side, map);
}

/* Levels before the first with a band for every thread, band by band in parallel; from there
 * each band's subtree on one thread, depth first. Every band sees the operations of wpt's row
 * phases. */
int wl_wpt1_forward_inplace(float *x, long cs, int C, int T, int J, const float *map, float *work, size_t len) {
  if (!count(x, x, C, 1, T, J, 1) || cs < T) return WPT_ERR_ARG;
  const size_t per = wl_wpt1_inplace_floats(T), threads = (size_t)WL_NTHREADS();
  if (!work || len < threads * per) return WPT_ERR_ARG;
  int L = 0;
  while (L < J && ((size_t)C << L) < threads) L++;
  for (int l = 0; l <= L; l++) {
    const size_t bands = (size_t)1 << l;
#pragma omp parallel for schedule(dynamic)
    for (size_t g = 0; g < (size_t)C * bands; g++) {
      float *side = work + (size_t)WL_TID() * per, *chan = x + g / bands * (size_t)cs;
      if (l < L) split_turn(chan, g % bands, (size_t)T >> l, l, J, side, side + T / 2, map);
      else subtree(chan, g % bands, l, T, J, side, map);
    }
  }
  return 0;
}

size_t wl_wpt_scratch_floats(int C, int H, int W) {
  return (size_t)C * (size_t)H * (size_t)W + (size_t)WL_NTHREADS() * slot((size_t)H, (size_t)W);
}

int wl_wpt1_forward_with(const float *x, int C, int T, int J, float *X, float *scratch, size_t len) {
  return wpt(x, C, 1, T, J, 1, +1, 0, X, scratch, len);
}

int wl_wpt1_inverse_with(const float *X, int C, int T, int J, float *x, float *scratch, size_t len) {
  return wpt(X, C, 1, T, J, 1, -1, 0, x, scratch, len);
}

int wl_wpt1_forward(const float *x, int C, int T, int J, float *X) {
  return wpt(x, C, 1, T, J, 1, +1, 0, X, NULL, 0);
}

int wl_wpt1_inverse(const float *X, int C, int T, int J, float *x) {
  return wpt(X, C, 1, T, J, 1, -1, 0, x, NULL, 0);
}

int wl_wpt2_forward(const float *x, int C, int H, int W, int J, float *X) {
  return wpt2_fwd(x, C, H, W, J, X, NULL);
}

int wl_wpt2_forward_scaled(const float *x, int C, int H, int W, int J, float a, float b, float *X) {
  const float map[2] = {a, b};
  return wpt2_fwd(x, C, H, W, J, X, map);
}

int wl_wpt2_inverse(const float *X, int C, int H, int W, int J, float *x) {
  return wpt(X, C, H, W, J, 2, -1, 0, x, NULL, 0);
}

int wl_wpt2_inverse_with(const float *X, int C, int H, int W, int J, float *x, float *scratch, size_t len) {
  return wpt(X, C, H, W, J, 2, -1, 0, x, scratch, len);
}

int wl_wpt1_forward_adjoint(const float *X, int C, int T, int J, float *x) {
  return wpt(X, C, 1, T, J, 1, -1, 1, x, NULL, 0);
}

int wl_wpt1_inverse_adjoint(const float *x, int C, int T, int J, float *X) {
  return wpt(x, C, 1, T, J, 1, +1, 1, X, NULL, 0);
}

int wl_wpt2_forward_adjoint(const float *X, int C, int H, int W, int J, float *x) {
  return wpt(X, C, H, W, J, 2, -1, 1, x, NULL, 0);
}

int wl_wpt2_inverse_adjoint(const float *x, int C, int H, int W, int J, float *X) {
  return wpt(x, C, H, W, J, 2, +1, 1, X, NULL, 0);
}
