/* winograd.c: 3x3 convolutions by Winograd's minimal filtering F(4x4, 3x3) (Lavin and Gray, "Fast
 * Algorithms for Convolutional Neural Networks", 2016): each 4x4 block of outputs (a tile) from
 * the 6x6 inputs around it in 36 products per channel pair instead of 144,
 *   Y = A^T [ (G g G^T) .* (B^T d B) ] A,
 * the 36 elementwise products summed over input channels as 36 matrix products
 * M_xi (Co, T) = U_xi (Co, Ci) V_xi (Ci, T) over T tiles. The products are this file's own: each
 * output is the same fused multiply-adds over the input channels in order, whichever tiles are
 * computed with it and on which thread, so that any band of rows (image stripes) has the whole
 * image's bits. A CPU without FMA instructions gets the same bits from fmaf, slowly; the
 * transforms are elementwise and unfused (-ffp-contract=off), the same bits in every clone. */
#include <math.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"
#include "wavelet/wpt.h"

#define TILES 48L /* tiles per unit of work, at most: its V and M stay in L2 */
#define NX WL_WINO_XI
#define TS WL_WINO_ROWS /* a tile's rows and columns of outputs */

static long minl(long a, long b) { return a < b ? a : b; }

/* Floats of one thread's unit: V (NX, Ci, TILES), M (NX, Co, TILES), the 6 padded input rows and
 * their 6 row combinations (4 (TILES + 1) each), the 4 output rows (4 TILES each). */
static long unit_floats(int Ci, int Co) { return NX * (Ci + Co) * TILES + 48 * (TILES + 1) + 16 * TILES; }

long wl_wino_scratch(int Ci, int Co) { return (long)NX * Co * Ci + WL_NTHREADS() * unit_floats(Ci, Co); }

/* z = G v for a column v of 3: G = [1/4 0 0; -1/6 -1/6 -1/6; -1/6 1/6 -1/6; 1/24 1/12 1/6;
 * 1/24 -1/12 1/6; 0 0 1]. */
static void g6(const float v[3], float z[6]) {
  const float s = v[0] + v[2], a = s + v[1], c = s - v[1], e = v[0] * 0.25f + v[2], f = v[1] * 0.5f;
  z[0] = 0.25f * v[0];
  z[1] = a * -0.16666667f;
  z[2] = c * -0.16666667f;
  z[3] = (e + f) * 0.16666667f;
  z[4] = (e - f) * 0.16666667f;
  z[5] = v[2];
}

/* U (NX, Co, Ci): G g G^T of every 3x3 kernel g = W[o][i], made for 64 inputs at a time and
 * stored a row of U_xi at a time. */
static void weights(float *U, const float *W, int Ci, int Co) {
#pragma omp for schedule(static)
  for (int o = 0; o < Co; o++)
    for (int i0 = 0; i0 < Ci; i0 += 64) {
      const int m = Ci - i0 < 64 ? Ci - i0 : 64;
      float u[64][NX];
      for (int i = 0; i < m; i++) {
        const float *g = W + ((long)o * Ci + i0 + i) * 9;
        float t[3][6]; /* G g's columns */
        for (int c = 0; c < 3; c++) g6((const float[3]){g[c], g[3 + c], g[6 + c]}, t[c]);
        for (int r = 0; r < 6; r++) g6((const float[3]){t[0][r], t[1][r], t[2][r]}, u[i] + 6 * r);
      }
      for (int xi = 0; xi < NX; xi++)
        for (int i = 0; i < m; i++) U[((long)xi * Co + o) * Ci + i0 + i] = u[i][xi];
    }
}

/* B^T d for d = (d0 .. d5): B^T = [4 0 -5 0 1 0; 0 -4 -4 1 1 0; 0 4 -4 -1 1 0; 0 -2 -1 2 1 0;
 * 0 2 -1 -2 1 0; 0 4 0 -5 0 1], as z0 .. z5. */
#define BT(d0, d1, d2, d3, d4, d5)                                                                             \
  const float s42 = d4 - 4.0f * d2, s31 = d3 - 4.0f * d1, t42 = d4 - d2, t31 = 2.0f * (d3 - d1);                \
  const float z0 = (4.0f * d0 - 5.0f * d2) + d4, z1 = s42 + s31, z2 = s42 - s31, z3 = t42 + t31, z4 = t42 - t31; \
  const float z5 = (4.0f * d1 - 5.0f * d3) + d5

/* The input rows 4i-1 .. 4i+4 of one channel around tile row i of image b for T tiles from tile
 * j0, columns 4 j0 - 1 .. 4 (j0 + T) + 2 (zero outside the image): rows r of d at d + r * 4n
 * (n = T + 1). Row k of B^T d combines the rows, over every column at once, into z (laid out as
 * d); column l of (B^T d) B combines z's columns 4t .. 4t+5: V (xi = 6k + l, ., T) at xi stride vs. */
WL_CLONES static void tile_in(float *restrict V, long vs, const wl_wino_src *x, int ci, wl_grid g, int b, int i,
                              long j0, long T, float *restrict d, float *restrict z) {
  const long n = T + 1, w = 4 * n, c0 = 4 * j0 - 1, lo = c0 < 0 ? -c0 : 0, hi = minl(w, g.w - c0);
  const float *rows[6]; /* the image's row where it holds all w columns, else a copy padded with zeros */
  for (int r = 0; r < 6; r++) {
    const int row = 4 * i - 1 + r;
    float *dr = d + r * w;
    rows[r] = dr;
    if (row < 0 || row >= g.h) {
      memset(dr, 0, sizeof(float) * w);
      continue;
    }
    const float *s = x->x + ci * x->cs + ((long)b * g.h + row - x->r0) * g.w + c0;
    if (!lo && hi == w && !x->silu) {
      rows[r] = s;
      continue;
    }
    memset(dr, 0, sizeof(float) * lo);
    if (x->silu) wl_silu_span(dr + lo, s + lo, hi - lo); /* SiLU(0) = 0: the padding holds */
    else memcpy(dr + lo, s + lo, sizeof(float) * (hi - lo));
    memset(dr + hi, 0, sizeof(float) * (w - hi));
  }
  const float *d0 = rows[0], *d1 = rows[1], *d2 = rows[2], *d3 = rows[3], *d4 = rows[4], *d5 = rows[5];
#pragma omp simd
  for (long c = 0; c < w; c++) {
    BT(d0[c], d1[c], d2[c], d3[c], d4[c], d5[c]);
    z[c] = z0, z[w + c] = z1, z[2 * w + c] = z2, z[3 * w + c] = z3, z[4 * w + c] = z4, z[5 * w + c] = z5;
  }
  for (int k = 0; k < 6; k++) {
    const float *zk = z + k * w;
    float *v = V + 6 * k * vs;
#pragma omp simd
    for (long t = 0; t < T; t++) {
      const float *e = zk + 4 * t;
      BT(e[0], e[1], e[2], e[3], e[4], e[5]);
      v[t] = z0, v[vs + t] = z1, v[2 * vs + t] = z2, v[3 * vs + t] = z3, v[4 * vs + t] = z4, v[5 * vs + t] = z5;
    }
  }
}

/* A^T m for m = (m0 .. m5): A^T = [1 1 1 1 1 0; 0 1 -1 2 -2 0; 0 1 1 4 4 0; 0 1 -1 8 -8 1]. */
#define AT(p, m0, m1, m2, m3, m4, m5)                                                       \
  const float p##a = m1 + m2, p##b = m1 - m2, p##c = m3 + m4, p##d = m3 - m4;                \
  const float p##0 = (m0 + p##a) + p##c, p##1 = p##b + 2.0f * p##d, p##2 = p##a + 4.0f * p##c; \
  const float p##3 = (p##b + 8.0f * p##d) + m5

/* Output rows 4i .. 4i+3 of channel co of T tiles: row a at y + a * ys, y[a][4t + c] =
 * (A^T M A)[a][c], M[k][l] = M (xi = 6k + l, co, t) at xi stride ms. */
WL_CLONES static void tile_out(float *restrict y, long ys, const float *restrict M, long ms, long T) {
  float *y0 = y, *y1 = y + ys, *y2 = y1 + ys, *y3 = y2 + ys;
#pragma omp simd
  for (long t = 0; t < T; t++) {
    const float *c = M + t;
#define COL(l) AT(m##l, c[l * ms], c[(6 + l) * ms], c[(12 + l) * ms], c[(18 + l) * ms], c[(24 + l) * ms], c[(30 + l) * ms])
    COL(0);
    COL(1);
    COL(2);
    COL(3);
    COL(4);
    COL(5);
#undef COL
#define ROW(a, y)                                                    \
  do {                                                                  \
    AT(r, m0##a, m1##a, m2##a, m3##a, m4##a, m5##a);                    \
    y[4 * t] = r0, y[4 * t + 1] = r1, y[4 * t + 2] = r2, y[4 * t + 3] = r3; \
  } while (0)
    ROW(0, y0);
    ROW(1, y1);
    ROW(2, y2);
    ROW(3, y3);
#undef ROW
  }
}

/* The epilogue of channel co's outputs of a unit: its rows in out (row stride ow, first column
 * c0, m columns), each row's part in [p0, p0 + n), in runs contiguous in both. */
static void finish(float *y, long ycs, long p0, long n, const float *b, const float *res, float *act, int co,
                   const float *out, long ow, wl_grid g, long tr, long rows, long th, long c0, long m) {
  long run = 0, at = 0, from = 0; /* the run: its length, its offset in y, its start in out */
  for (long r = 0; r <= TS * rows; r++) {
    long q = 0, lo = 0, hi = 0;
    if (r < TS * rows) {
      const long t = tr + r / TS, row = t % th * TS + r % TS;
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

void wl_wino_weights(float *U, const float *W, int Ci, int Co) {
#pragma omp parallel
  weights(U, W, Ci, Co);
}

void wl_wino_conv(float *y, long ycs, long p0, long n, const wl_wino_src *x, const float *W, const float *Uw,
                  const float *b, const float *res, float *act, int Ci, int Co, wl_grid g, float *scratch) {
  const long th = (g.h + TS - 1) / TS, tw = (g.w + TS - 1) / TS, nseg = (tw + TILES - 1) / TILES;
  const long seg = ((tw + nseg - 1) / nseg + 23) / 24 * 24; /* a unit's tiles in a row: whole 24-column blocks */
  const long k = nseg > 1 || tw > TILES / 2 ? 1 : TILES / tw; /* a unit's tile rows */
  const long r0 = p0 / g.w, r1 = (p0 + n - 1) / g.w;         /* rows over the B images */
  const long t0 = r0 / g.h * th + r0 % g.h / TS, t1 = r1 / g.h * th + r1 % g.h / TS + 1;
  const long units = (t1 - t0 + k - 1) / k * nseg, per = unit_floats(Ci, Co);
  const float *U = Uw ? Uw : scratch;
#pragma omp parallel if (units > 1)
  {
    if (!Uw) weights(scratch, W, Ci, Co);
    float *V = scratch + (long)NX * Co * Ci + WL_TID() * per, *M = V + NX * Ci * TILES, *d = M + NX * Co * TILES;
    float *z = d + 24 * (TILES + 1), *out = z + 24 * (TILES + 1);
#pragma omp for schedule(dynamic)
    for (long u = 0; u < units; u++) {
      const long tr = t0 + u / nseg * k, rows = minl(k, t1 - tr), j0 = u % nseg * seg, Tr = minl(seg, tw - j0);
      const long T = rows * Tr, ow = TS * Tr;
      for (long l = 0; l < rows; l++)
        for (int ci = 0; ci < Ci; ci++)
          tile_in(V + ci * T + l * Tr, Ci * T, x, ci, g, (int)((tr + l) / th), (int)((tr + l) % th), j0, Tr, d, z);
      for (int xi = 0; xi < NX; xi++)
        wl_gemm(M + xi * Co * T, T, U + (long)xi * Co * Ci, V + xi * Ci * T, T, Co, Ci, T, 0, WL_GEMM_AVX512);
      for (int co = 0; co < Co; co++) {
        for (long l = 0; l < rows; l++) tile_out(out + TS * l * ow, ow, M + co * T + l * Tr, Co * T, Tr);
        finish(y, ycs, p0, n, b, res, act, co, out, ow, g, tr, rows, th, TS * j0, minl(ow, g.w - TS * j0));
      }
    }
  }
}
