/* layers.c: forward passes of the decoder's layers (layers.h): convolution as im2col + OpenBLAS
 * SGEMM over column blocks, SiLU, residual add. Their backward passes and the layers that
 * only training uses are in train/layers.c. tests/test_layers.c checks the convolution
 * against a direct loop. */
#include <cblas.h>
#include <math.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"

/* Positions per block of the forward pass. A block is one single-threaded SGEMM (with its
 * im2col) on one thread: the blocks are fixed by P alone, so every output takes the same
 * kernel path whatever the thread count. (OpenBLAS's own threading gives other bits for
 * another thread count: its Haswell SGEMM does, measured on 0.3.21.) 576 x 512 floats of
 * im2col (64 channels, 3x3) are 1.2 MB, about a core's share of L2 and L3. */
#define WL_CONV_BLOCK 512L

static long minl(long a, long b) { return a < b ? a : b; }

long wl_conv_scratch(int Ci, int kh, int kw, wl_grid g) {
  long P = wl_grid_size(g), fwd = WL_NTHREADS() * minl(P, WL_CONV_BLOCK);
  return kh * kw == 1 ? 0 : (long)Ci * kh * kw * (fwd > minl(P, WL_CONV_CHUNK) ? fwd : minl(P, WL_CONV_CHUNK));
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
void wl_im2col(float *col, const float *x, int Ci, int kh, int kw, wl_grid g, long p0, long n) {
  long P = wl_grid_size(g);
#pragma omp parallel for schedule(static)
  for (int r = 0; r < Ci * kh * kw; r++) {
    int dy = r / kw % kh - kh / 2, dx = r % kw - kw / 2;
    const float *xs = x + (long)(r / (kh * kw)) * P + p0;
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

/* y (Co, P) = W (Co, K) col (K, P) + beta y, K = Ci*kh*kw, in blocks of WL_CONV_BLOCK
 * positions across threads; each thread builds its block's im2col in its own part of scratch.
 * A 1x1 kernel's im2col matrix is x itself, read in place. */
static void conv_blocks(float *y, const float *x, const float *W, float beta, int Ci, int Co, int kh, int kw,
                        wl_grid g, float *scratch) {
  const long P = wl_grid_size(g), K = (long)Ci * kh * kw, nblk = (P + WL_CONV_BLOCK - 1) / WL_CONV_BLOCK;
#pragma omp parallel if (nblk > 1)
  {
    WL_ONE_THREAD(); /* OpenBLAS threads by this task's thread count, even in a team of one */
#pragma omp for schedule(dynamic)
    for (long t = 0; t < nblk; t++) {
      const long p0 = t * WL_CONV_BLOCK, n = minl(P - p0, WL_CONV_BLOCK);
      const float *col = x + p0;
      long ld = P;
      if (kh * kw > 1) {
        float *own = scratch + (long)WL_TID() * K * minl(P, WL_CONV_BLOCK);
        wl_im2col(own, x, Ci, kh, kw, g, p0, n);
        col = own, ld = n;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, Co, (int)n, (int)K, 1.0f, W, (int)K, col, (int)ld,
                  beta, y + p0, (int)P);
    }
  }
}

void wl_conv_forward(float *y, const float *x, const float *W, const float *b, int Ci, int Co, int kh,
                     int kw, wl_grid g, float *scratch) {
  const long P = wl_grid_size(g);
  if (b) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Co; o++)
      for (long p = 0; p < P; p++) y[o * P + p] = b[o];
  }
  conv_blocks(y, x, W, b ? 1.0f : 0.0f, Ci, Co, kh, kw, g, scratch);
}

void wl_matmul_add(float *y, const float *W, const float *x, int Co, int Ci, long P) {
  conv_blocks(y, x, W, 1.0f, Ci, Co, 1, 1, (wl_grid){1, 1, (int)P}, NULL);
}

void wl_silu_forward(float *y, const float *x, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) y[i] = x[i] / (1.0f + expf(-x[i]));
}

void wl_add_forward(float *y, const float *a, const float *b, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) y[i] = a[i] + b[i];
}
