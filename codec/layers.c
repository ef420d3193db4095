/* layers.c: forward passes of the decoder's layers (layers.h): convolution as im2col + a matrix
 * product (gemm.c) over column blocks, then its bias, residual and SiLU (activation.c);
 * decoding's 3x3 convolutions are Winograd's (winograd.c). Their backward passes and the layers that only
 * training uses are in train/layers.c. tests/test_layers.c checks the convolution against a
 * direct loop. */
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"

static long minl(long a, long b) { return a < b ? a : b; }

long wl_conv_scratch(int Ci, int Co, int kh, int kw, wl_grid g) {
  const long P = wl_grid_size(g), fwd = WL_NTHREADS() * minl(P, WL_CONV_BLOCK);
  const long im2col = (long)Ci * kh * kw * (fwd > minl(P, WL_CONV_CHUNK) ? fwd : minl(P, WL_CONV_CHUNK));
  const long wino = wl_wino_kernel(kh, kw) ? wl_wino_scratch(Ci, Co) : 0;
  return kh * kw == 1 ? 0 : im2col > wino ? im2col : wino;
}

static long clampl(long v, long lo, long hi) { return v < lo ? lo : v > hi ? hi : v; }

/* Positions p .. p+run-1, run = min(left, what remains of p's image row), share one image
 * row. The tap (dy, dx) of position p+k is p+k + dy*w + dx; it lies inside the same image
 * exactly for k in [*lo, *hi) (empty when row i+dy is outside the image). Returns run. */
long wl_tap_run(wl_grid g, long p, long left, int dy, int dx, long *lo, long *hi) {
  long j = p % g.w, i = p / g.w % g.h, run = g.w - j < left ? g.w - j : left;
  int inside = i + dy >= 0 && i + dy < g.h;
  *lo = inside ? clampl(-dx - j, 0, run) : 0;
  *hi = inside ? clampl(g.w - dx - j, *lo, run) : 0;
  return run;
}

/* col (Ci*kh*kw, n) = the taps of x (Ci, P) at positions p0 .. p0+n-1: row (ci*kh + a)*kw + c
 * is channel ci shifted by (a - kh/2, c - kw/2), zero where the tap leaves the image. */
/* wl_im2col with x's channels xcs floats apart. */
static void im2col(float *col, const float *x, long xcs, int Ci, int kh, int kw, wl_grid g, long p0, long n) {
#pragma omp parallel for schedule(static)
  for (int r = 0; r < Ci * kh * kw; r++) {
    int dy = r / kw % kh - kh / 2, dx = r % kw - kw / 2;
    const float *xs = x + (long)(r / (kh * kw)) * xcs + p0;
    long off = (long)dy * g.w + dx;
    float *c = col + (long)r * n;
    for (long t = 0, lo, hi, run; t < n; t += run) {
      run = wl_tap_run(g, p0 + t, n - t, dy, dx, &lo, &hi);
      memset(c + t, 0, sizeof(float) * lo);
      if (hi > lo) memcpy(c + t + lo, xs + t + lo + off, sizeof(float) * (hi - lo));
      memset(c + t + hi, 0, sizeof(float) * (run - hi));
    }
  }
}

void wl_im2col(float *col, const float *x, int Ci, int kh, int kw, wl_grid g, long p0, long n) {
  im2col(col, x, wl_grid_size(g), Ci, kh, kw, g, p0, n);
}

/* What a convolution adds to its product: bias b (NULL: none, and nothing else), and optionally
 * an activation act and, only with act, a residual res, both laid out as y. */
typedef struct { const float *b, *res; float *act; } epilogue;

/* y (Co, n) = W (Co, K) col (K, .) [+ y with acc] at the n positions p0 .. p0+n-1 of grid g (p0 and
 * p0 + n on multiples of WL_CONV_BLOCK, or P), K = Ci*kh*kw, y's channels ycs floats apart, from
 * x holding the grid's positions [off, off + len) (whole rows; channel c at x + c * cs); then
 * the epilogue e, block by block while the block is in cache. The products are
 * the blocks of WL_CONV_BLOCK positions from 0 of the whole grid, across threads;
 * wl_gemm gives a column the same bits in any block. Each thread builds its block's im2col in its
 * `per` floats of scratch; a 1x1 kernel's im2col matrix is x itself, read in place (no scratch). */
typedef struct { const float *x; long off, len, cs; } conv_src;
static void conv_blocks(float *y, long ycs, conv_src x, const float *W, epilogue e, int acc, int Ci, int Co,
                        int kh, int kw, wl_grid g, long p0, long n, float *scratch, long per) {
  const long P = wl_grid_size(g), K = (long)Ci * kh * kw, t0 = p0 / WL_CONV_BLOCK;
  const long nblk = (p0 + n + WL_CONV_BLOCK - 1) / WL_CONV_BLOCK - t0;
  const wl_grid gx = x.len == P ? g : (wl_grid){1, (int)(x.len / g.w), g.w};
#pragma omp parallel if (nblk > 1)
  {
    WL_ONE_THREAD(); /* im2col's own region runs on this thread, even in a team of one */
#pragma omp for schedule(dynamic)
    for (long t = t0; t < t0 + nblk; t++) {
      const long q = t * WL_CONV_BLOCK, m = minl(P - q, WL_CONV_BLOCK), at = q - p0;
      const float *col = x.x + (q - x.off);
      long ld = x.cs;
      if (kh * kw > 1) {
        float *own = scratch + (long)WL_TID() * per;
        im2col(own, x.x, x.cs, Ci, kh, kw, gx, q - x.off, m);
        col = own, ld = m;
      }
      float *out = (e.act ? e.act : y) + at;
      wl_gemm(out, ycs, W, col, ld, Co, (int)K, m, acc, WL_GEMM_AVX512);
      for (int o = 0; e.b && o < Co; o++)
        wl_conv_finish(y + at + o * ycs, e.act ? out + o * ycs : NULL, out + o * ycs, e.res ? e.res + at + o * ycs : NULL,
                       e.b[o], 0, m);
    }
  }
}

static void conv_whole(float *y, const float *x, const float *W, epilogue e, int Ci, int Co, int kh, int kw, wl_grid g,
                       float *scratch) {
  const long P = wl_grid_size(g);
  conv_blocks(y, P, (conv_src){x, 0, P, P}, W, e, 0, Ci, Co, kh, kw, g, 0, P, scratch,
              (long)Ci * kh * kw * minl(P, WL_CONV_BLOCK));
}

void wl_conv_forward(float *y, const float *x, const float *W, const float *b, int Ci, int Co, int kh,
                     int kw, wl_grid g, float *scratch) {
  conv_whole(y, x, W, (epilogue){b, NULL, NULL}, Ci, Co, kh, kw, g, scratch);
}

void wl_conv_act(float *y, float *act, const float *res, const float *x, const float *W, const float *b, int Ci,
                 int Co, int kh, int kw, wl_grid g, float *scratch) {
  conv_whole(y, x, W, (epilogue){b, res, act}, Ci, Co, kh, kw, g, scratch);
}

void wl_matmul_add(float *y, const float *W, const float *x, int Co, int Ci, long P) {
  conv_blocks(y, P, (conv_src){x, 0, P, P}, W, (epilogue){0}, 1, Ci, Co, 1, 1, (wl_grid){1, 1, (int)P}, 0, P,
              NULL, 0);
}

void wl_conv_window_rows(wl_grid g, long p0, long n, int kh, int *r0, int *r1) {
  if (kh == 3) { /* Winograd's tiles: rows 4i .. 4i+3 from rows 4i-1 .. 4i+4 */
    const int T = WL_WINO_ROWS;
    *r0 = (int)clampl(p0 / g.w / T * T - 1, 0, g.h);
    *r1 = (int)clampl((p0 + n - 1) / g.w / T * T + T + 1, 0, g.h);
    return;
  }
  const long P = wl_grid_size(g), q0 = p0 / WL_CONV_BLOCK * WL_CONV_BLOCK;
  const long q1 = minl(P, (p0 + n + WL_CONV_BLOCK - 1) / WL_CONV_BLOCK * WL_CONV_BLOCK);
  *r0 = (int)clampl(q0 / g.w - kh / 2, 0, g.h);
  *r1 = (int)clampl((q1 - 1) / g.w + 1 + kh / 2, 0, g.h);
}

long wl_conv_window_scratch(int Ci, int kh, int kw) {
  return kh * kw == 1 ? 0 : WL_NTHREADS() * (long)Ci * kh * kw * WL_CONV_BLOCK;
}

void wl_conv_window(float *y, long ycs, long p0, long n, const wl_window *x, const float *W, const float *b, int Ci,
                    int Co, int kh, int kw, wl_grid g, float *scratch) {
  conv_blocks(y, ycs, (conv_src){x->x, (long)x->r0 * g.w, (long)x->rows * g.w, x->cs}, W, (epilogue){b, NULL, NULL}, 0, Ci, Co, kh,
              kw, g, p0, n, scratch, (long)Ci * kh * kw * WL_CONV_BLOCK);
}

void wl_matmul_add_window(float *y, long ycs, long p0, long n, const wl_window *x, const float *W, int Co, int Ci,
                          wl_grid g) {
  conv_blocks(y, ycs, (conv_src){x->x, (long)x->r0 * g.w, (long)x->rows * g.w, x->cs}, W, (epilogue){0}, 1, Ci, Co, 1, 1, g, p0,
              n, NULL, 0);
}
