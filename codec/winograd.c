/* winograd.c: 3x3 convolutions by Winograd's minimal filtering F(2x2, 3x3) (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016): each 2x2 block of outputs (a tile) from
 * the 4x4 inputs around it in 16 products per channel pair instead of 36,
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
 * the 16 elementwise products summed over input channels as 16 matrix products
 * M_xi (Co, T) = U_xi (Co, Ci) V_xi (Ci, T) over T tiles. The matrices are exact in binary (0,
 * +-1, 1/2), so the transforms only add. The products are this file's own: each output is the
 * same fused multiply-adds over the input channels in order, whichever tiles are computed with
 * it and on which thread, so that any band of rows (image stripes) has the whole image's bits.
 * A CPU without FMA instructions gets the same bits from fmaf, slowly. */
#include <math.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"
#include "wavelet/wpt.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_KERNEL 1
#endif

#define TILES 96L /* tiles per unit of work, at most: its V and M stay in L2 */

static long minl(long a, long b) { return a < b ? a : b; }

/* Floats of one thread's unit: V (16, Ci, TILES), M (16, Co, TILES), the 8 deinterleaved input
 * rows (TILES + 1 each) and the 2 output rows (2 TILES each). */
static long unit_floats(int Ci, int Co) { return 16 * (Ci + Co) * TILES + 8 * (TILES + 1) + 4 * TILES; }

long wl_wino_scratch(int Ci, int Co) { return 16L * Co * Ci + WL_NTHREADS() * unit_floats(Ci, Co); }

/* U (16, Co, Ci): G g G^T of every 3x3 kernel g = W[o][i], G = [1 0 0; .5 .5 .5; .5 -.5 .5; 0 0 1]. */
static void weights(float *U, const float *W, int Ci, int Co) {
#pragma omp for schedule(static)
  for (int o = 0; o < Co; o++)
    for (int i = 0; i < Ci; i++) {
      const float *g = W + ((long)o * Ci + i) * 9;
      float t[4][3], u[4][4];
      for (int c = 0; c < 3; c++) {
        t[0][c] = g[c];
        t[1][c] = 0.5f * (g[c] + g[3 + c] + g[6 + c]);
        t[2][c] = 0.5f * (g[c] - g[3 + c] + g[6 + c]);
        t[3][c] = g[6 + c];
      }
      for (int r = 0; r < 4; r++) {
        u[r][0] = t[r][0];
        u[r][1] = 0.5f * (t[r][0] + t[r][1] + t[r][2]);
        u[r][2] = 0.5f * (t[r][0] - t[r][1] + t[r][2]);
        u[r][3] = t[r][2];
      }
      for (int xi = 0; xi < 16; xi++) U[((long)xi * Co + o) * Ci + i] = u[xi / 4][xi % 4];
    }
}

/* C (M, N) = A (M, K) B (K, N), all rows packed; element (i, j) is fmaf over k = 0 .. K-1 in order
 * from 0. */
static void gemm_plain(float *C, const float *A, const float *B, int M, int K, long N) {
  for (int i = 0; i < M; i++) {
    float *c = C + i * N;
    memset(c, 0, sizeof(float) * N);
    for (int k = 0; k < K; k++)
      for (long j = 0; j < N; j++) c[j] = fmaf(A[(long)i * K + k], B[k * N + j], c[j]);
  }
}

#ifdef HAVE_AVX2_KERNEL
/* gemm_plain's bits, 4 rows by 24 columns at a time (12 accumulators), 8 then a masked 1..7 at the
 * columns' end, one row at a time at the rows' end. */
__attribute__((target("avx2,fma"))) static void gemm_avx2(float *C, const float *A, const float *B, int M, int K,
                                                          long N) {
  int i = 0;
  for (; i + 4 <= M; i += 4) {
    const float *a = A + (long)i * K;
    long j = 0;
    for (; j + 24 <= N; j += 24) {
      __m256 c00 = _mm256_setzero_ps(), c01 = c00, c02 = c00, c10 = c00, c11 = c00, c12 = c00;
      __m256 c20 = c00, c21 = c00, c22 = c00, c30 = c00, c31 = c00, c32 = c00;
      for (int k = 0; k < K; k++) {
        const float *b = B + k * N + j;
        const __m256 b0 = _mm256_loadu_ps(b), b1 = _mm256_loadu_ps(b + 8), b2 = _mm256_loadu_ps(b + 16);
#define ROW(r)                                                                                                \
  do {                                                                                                        \
    const __m256 s = _mm256_broadcast_ss(a + r * K + k);                                                      \
    c##r##0 = _mm256_fmadd_ps(s, b0, c##r##0), c##r##1 = _mm256_fmadd_ps(s, b1, c##r##1);                     \
    c##r##2 = _mm256_fmadd_ps(s, b2, c##r##2);                                                                \
  } while (0)
        ROW(0);
        ROW(1);
        ROW(2);
        ROW(3);
#undef ROW
      }
      float *c = C + i * N + j;
      _mm256_storeu_ps(c, c00), _mm256_storeu_ps(c + 8, c01), _mm256_storeu_ps(c + 16, c02);
      _mm256_storeu_ps(c + N, c10), _mm256_storeu_ps(c + N + 8, c11), _mm256_storeu_ps(c + N + 16, c12);
      _mm256_storeu_ps(c + 2 * N, c20), _mm256_storeu_ps(c + 2 * N + 8, c21), _mm256_storeu_ps(c + 2 * N + 16, c22);
      _mm256_storeu_ps(c + 3 * N, c30), _mm256_storeu_ps(c + 3 * N + 8, c31), _mm256_storeu_ps(c + 3 * N + 16, c32);
    }
    for (; j < N; j += 8) {
      const int n = (int)minl(8, N - j);
      const __m256i mask = _mm256_cmpgt_epi32(_mm256_set1_epi32(n), _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
      __m256 c0 = _mm256_setzero_ps(), c1 = c0, c2 = c0, c3 = c0;
      for (int k = 0; k < K; k++) {
        const __m256 b = _mm256_maskload_ps(B + k * N + j, mask);
        c0 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + k), b, c0);
        c1 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + K + k), b, c1);
        c2 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 2 * K + k), b, c2);
        c3 = _mm256_fmadd_ps(_mm256_broadcast_ss(a + 3 * K + k), b, c3);
      }
      float *c = C + i * N + j;
      _mm256_maskstore_ps(c, mask, c0), _mm256_maskstore_ps(c + N, mask, c1);
      _mm256_maskstore_ps(c + 2 * N, mask, c2), _mm256_maskstore_ps(c + 3 * N, mask, c3);
    }
  }
  if (i < M) gemm_plain(C + i * N, A + (long)i * K, B, M - i, K, N);
}
#endif

void wl_wino_gemm(float *C, const float *A, const float *B, int M, int K, long N, int portable) {
#ifdef HAVE_AVX2_KERNEL
  if (!portable && __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) {
    gemm_avx2(C, A, B, M, K, N);
    return;
  }
#endif
  gemm_plain(C, A, B, M, K, N);
}

/* The input rows of one channel around tile row i of image b, deinterleaved for T tiles from
 * tile j0: e[r][t] = row 2i-1+r at column 2(j0+t), o[r][t] at column 2(j0+t)-1 (t <= T), zero
 * outside the image. Then V (16, ., T) at channel stride vs: row k of B^T d (k = xi / 4) combines
 * the rows, column l of (B^T d) B the columns. */
WL_CLONES static void tile_in(float *V, long vs, const wl_wino_src *x, int ci, wl_grid g, int b, int i, long j0,
                              long T, float *e, float *o) {
  const long n = T + 1;
  for (int r = 0; r < 4; r++) {
    const int row = 2 * i - 1 + r;
    float *er = e + r * n, *od = o + r * n;
    if (row < 0 || row >= g.h) {
      memset(er, 0, sizeof(float) * n);
      memset(od, 0, sizeof(float) * n);
      continue;
    }
    const float *s = x->x + ci * x->cs + ((long)b * g.h + row - x->r0) * g.w;
    for (long t = 0; t < n; t++) {
      const long c = 2 * (j0 + t);
      er[t] = c < g.w ? s[c] : 0.0f;
      od[t] = c >= 1 && c - 1 < g.w ? s[c - 1] : 0.0f;
    }
  }
  for (int k = 0; k < 4; k++) {
    /* row k of B^T: rows (0, 2) subtracted, (1, 2) added, (2, 1) subtracted, (1, 3) subtracted */
    static const int ra[4] = {0, 1, 2, 1}, rb[4] = {2, 2, 1, 3};
    const float sg = k == 1 ? 1.0f : -1.0f;
    const float *ea = e + ra[k] * n, *eb = e + rb[k] * n, *oa = o + ra[k] * n, *ob = o + rb[k] * n;
    float *v0 = V + 4 * k * vs, *v1 = v0 + vs, *v2 = v1 + vs, *v3 = v2 + vs;
#pragma omp simd
    for (long t = 0; t < T; t++) {
      const float E = ea[t] + sg * eb[t], E1 = ea[t + 1] + sg * eb[t + 1];
      const float O = oa[t] + sg * ob[t], O1 = oa[t + 1] + sg * ob[t + 1];
      v0[t] = O - O1;
      v1[t] = E + O1;
      v2[t] = O1 - E;
      v3[t] = E - E1;
    }
  }
}

/* Output rows 2i, 2i+1 of channel co of T tiles: y[a][2t + c] = (A^T M A)[a][c] with
 * A^T = [1 1 1 0; 0 1 -1 -1], M[k][l] = M (xi = 4k + l, co, t), xi stride ms. */
WL_CLONES static void tile_out(float *restrict y0, float *restrict y1, const float *restrict M, long ms, long T) {
  const float *m0 = M, *m1 = M + ms, *m2 = M + 2 * ms, *m3 = M + 3 * ms, *m4 = M + 4 * ms, *m5 = M + 5 * ms;
  const float *m6 = M + 6 * ms, *m7 = M + 7 * ms, *m8 = M + 8 * ms, *m9 = M + 9 * ms, *m10 = M + 10 * ms;
  const float *m11 = M + 11 * ms, *m12 = M + 12 * ms, *m13 = M + 13 * ms, *m14 = M + 14 * ms, *m15 = M + 15 * ms;
#pragma omp simd
  for (long t = 0; t < T; t++) {
    const float p00 = m0[t] + m4[t] + m8[t], p01 = m1[t] + m5[t] + m9[t];
    const float p02 = m2[t] + m6[t] + m10[t], p03 = m3[t] + m7[t] + m11[t];
    const float p10 = m4[t] - m8[t] - m12[t], p11 = m5[t] - m9[t] - m13[t];
    const float p12 = m6[t] - m10[t] - m14[t], p13 = m7[t] - m11[t] - m15[t];
    y0[2 * t] = p00 + p01 + p02;
    y0[2 * t + 1] = p01 - p02 - p03;
    y1[2 * t] = p10 + p11 + p12;
    y1[2 * t + 1] = p11 - p12 - p13;
  }
}

/* The epilogue of channel co's outputs of a unit: its rows in out (row stride ow, first column
 * c0, m columns), each row's part in [p0, p0 + n), in runs contiguous in both. */
static void finish(float *y, long ycs, long p0, long n, const float *b, const float *res, float *act, int co,
                   const float *out, long ow, wl_grid g, long tr, long rows, long th, long c0, long m) {
  long run = 0, at = 0, from = 0; /* the run: its length, its offset in y, its start in out */
  for (long r = 0; r <= 2 * rows; r++) {
    long q = 0, lo = 0, hi = 0;
    if (r < 2 * rows) {
      const long t = tr + r / 2, row = t % th * 2 + r % 2;
      if (row < g.h) {
        q = (t / th * g.h + row) * g.w + c0; /* the row's first position */
        lo = q < p0 ? p0 - q : 0, hi = minl(m, p0 + n - q);
      }
    }
    const int more = hi > lo && run && at + run == co * ycs + q + lo - p0 && from + run == r * ow + lo;
    if (run && !more) {
      wl_conv_finish(y + at, act ? act + at : NULL, out + from, res ? res + at : NULL, b ? b[co] : 0.0f, !b, run);
      run = 0;
    }
    if (hi <= lo) continue;
    if (!run) at = co * ycs + q + lo - p0, from = r * ow + lo;
    run += hi - lo;
  }
}

void wl_wino_conv(float *y, long ycs, long p0, long n, const wl_wino_src *x, const float *W, const float *b,
                  const float *res, float *act, int Ci, int Co, wl_grid g, float *scratch) {
  const long th = (g.h + 1) / 2, tw = (g.w + 1) / 2, nseg = (tw + TILES - 1) / TILES;
  const long seg = ((tw + nseg - 1) / nseg + 7) / 8 * 8; /* a unit's tiles in a row: whole vectors but the last */
  const long k = nseg > 1 || tw > TILES / 2 ? 1 : TILES / tw; /* a unit's tile rows */
  const long r0 = p0 / g.w, r1 = (p0 + n - 1) / g.w;  /* rows over the B images */
  const long t0 = r0 / g.h * th + r0 % g.h / 2, t1 = r1 / g.h * th + r1 % g.h / 2 + 1;
  const long units = (t1 - t0 + k - 1) / k * nseg, per = unit_floats(Ci, Co);
  float *U = scratch;
#pragma omp parallel if (units > 1)
  {
    weights(U, W, Ci, Co);
    float *V = scratch + 16L * Co * Ci + WL_TID() * per, *M = V + 16 * Ci * TILES, *e = M + 16 * Co * TILES;
    float *o = e + 4 * (TILES + 1), *out = o + 4 * (TILES + 1);
#pragma omp for schedule(dynamic)
    for (long u = 0; u < units; u++) {
      const long tr = t0 + u / nseg * k, rows = minl(k, t1 - tr), j0 = u % nseg * seg, Tr = minl(seg, tw - j0);
      const long T = rows * Tr, ow = 2 * Tr;
      for (long l = 0; l < rows; l++)
        for (int ci = 0; ci < Ci; ci++)
          tile_in(V + ci * T + l * Tr, Ci * T, x, ci, g, (int)((tr + l) / th), (int)((tr + l) % th), j0, Tr, e, o);
      for (int xi = 0; xi < 16; xi++) wl_wino_gemm(M + xi * Co * T, U + (long)xi * Co * Ci, V + xi * Ci * T, Co, Ci, T, 0);
      for (int co = 0; co < Co; co++) {
        for (long l = 0; l < rows; l++) tile_out(out + 2 * l * ow, out + (2 * l + 1) * ow, M + co * T + l * Tr, Co * T, Tr);
        finish(y, ycs, p0, n, b, res, act, co, out, ow, g, tr, rows, th, 2 * j0, minl(ow, g.w - 2 * j0));
      }
    }
  }
}
