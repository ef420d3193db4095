/* train/layers.c: the backward passes of the decoder's layers (codec/layers.c), and the layers
 * only training and refinement use: WaLLoC companding and its inverse as differentiable
 * functions, and the counter-based uniform noise that stands in for rounding. Every backward
 * pass is checked against central differences in tests/test_layers.c. */
#include <cblas.h>
#include <math.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"
#include "codec/train/train.h"

/* x (Ci, P) += col2im(col): the adjoint of im2col, each entry added back to the input
 * position it was read from. Parallel over ci: a thread owns its channel's plane of x, so
 * the scatter has no write races and a fixed summation order. */
static void col2im(float *x, const float *col, int Ci, int kh, int kw, wl_grid g, long p0, long n) {
  long P = wl_grid_size(g);
#pragma omp parallel for schedule(static)
  for (int ci = 0; ci < Ci; ci++)
    for (int r = ci * kh * kw; r < (ci + 1) * kh * kw; r++) {
      int dy = r / kw % kh - kh / 2, dx = r % kw - kw / 2;
      float *xs = x + (long)ci * P + p0;
      long off = (long)dy * g.w + dx;
      const float *c = col + (long)r * n;
      for (long t = 0, lo, hi, run; t < n; t += run) {
        run = wl_tap_run(g, p0 + t, n - t, dy, dx, &lo, &hi);
        for (long k = lo; k < hi; k++) xs[t + k + off] += c[t + k];
      }
    }
}

/* Per chunk: dW (Co, K) += dy (Co, n) col^T; dcol (K, n) = W^T dy, scattered into dx by
 * col2im (for 1x1, dx += W^T dy directly). scratch holds col, then dcol. */
void wl_conv_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                      int Ci, int Co, int kh, int kw, wl_grid g, float *scratch) {
  long P = wl_grid_size(g), K = (long)Ci * kh * kw, chunk = kh * kw == 1 ? P : WL_CONV_CHUNK;
  float *dcol = scratch ? scratch + wl_conv_scratch(Ci, Co, kh, kw, g) : NULL;
  if (db) {
#pragma omp parallel for schedule(static)
    for (int o = 0; o < Co; o++) {
      double s = 0;
      for (long p = 0; p < P; p++) s += dy[o * P + p];
      db[o] += (float)s;
    }
  }
  for (long p0 = 0; p0 < P && (dx || dW); p0 += chunk) {
    long n = P - p0 < chunk ? P - p0 : chunk, ld = P;
    if (dW) {
      const float *col = x + p0;
      if (kh * kw > 1) {
        wl_im2col(scratch, x, Ci, kh, kw, g, p0, n);
        col = scratch, ld = n;
      }
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Co, (int)K, (int)n, 1.0f, dy + p0, (int)P, col,
                  (int)ld, 1.0f, dW, (int)K);
    }
    if (dx && kh * kw == 1)
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, Ci, (int)n, Co, 1.0f, W, (int)K, dy + p0, (int)P,
                  1.0f, dx + p0, (int)P);
    else if (dx) {
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, (int)K, (int)n, Co, 1.0f, W, (int)K, dy + p0,
                  (int)P, 0.0f, dcol, (int)n);
      col2im(dx, dcol, Ci, kh, kw, g, p0, n);
    }
  }
}

/* d/dx x sigma(x) = sigma (1 + x (1 - sigma)) */
void wl_silu_backward(float *dx, const float *dy, const float *x, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    float s = 1.0f / (1.0f + expf(-x[i]));
    dx[i] += dy[i] * s * (1.0f + x[i] * (1.0f - s));
  }
}

void wl_add_backward(float *da, float *db, const float *dy, long n) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    if (da) da[i] += dy[i];
    if (db) db[i] += dy[i];
  }
}
#define INV_SQRT_2PI 0.39894228040143267794 /* phi(z) = INV_SQRT_2PI e^(-z^2/2) */

/* 2L (Phi(y/s) - 1/2) = L erf(y / (s sqrt 2)), erf being exact near 0 where Phi - 1/2 cancels. */
void wl_compand_forward(float *u, const float *y, long n, int bits) {
  double L, s;
  wl_compand_params(bits, &L, &s);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) u[i] = (float)(L * erf(y[i] / (s * M_SQRT2)));
}

/* du/dy = 2L phi(y/s) / s */
void wl_compand_backward(float *dy, const float *du, const float *y, long n, int bits) {
  double L, s;
  wl_compand_params(bits, &L, &s);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    double z = y[i] / s;
    dy[i] += du[i] * (float)(2 * L * INV_SQRT_2PI * exp(-0.5 * z * z) / s);
  }
}

/* p = u/(2L) + 1/2 clamped into [1e-4, 1 - 1e-4]; *clamped says whether the clamp acted. */
static double uncompand_p(float u, double L, int *clamped) {
  double p = u / (2 * L) + 0.5;
  *clamped = p <= 1e-4 || p >= 1 - 1e-4;
  return p < 1e-4 ? 1e-4 : p > 1 - 1e-4 ? 1 - 1e-4 : p;
}

void wl_uncompand_forward(float *y, const float *u, long n, int bits) {
  double L, s;
  wl_compand_params(bits, &L, &s);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    int clamped;
    y[i] = (float)(s * wl_probit(uncompand_p(u[i], L, &clamped)));
  }
}

/* dy/du = s / (2L phi(z)) with z = Phi^-1(p), the inverse of compand's slope; 0 where clamped. */
void wl_uncompand_backward(float *du, const float *dy, const float *u, long n, int bits) {
  double L, s;
  wl_compand_params(bits, &L, &s);
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) {
    int clamped;
    double z = wl_probit(uncompand_p(u[i], L, &clamped));
    if (!clamped) du[i] += dy[i] * (float)(s / (2 * L * INV_SQRT_2PI * exp(-0.5 * z * z)));
  }
}

/* SplitMix64's output mix of the counter's state seed' + counter * golden ratio. The seed is
 * first XORed with a constant (sqrt 2's fraction bits) so seed 0, counter 0 avoids the mix's
 * fixed point 0. The top 24 bits make an exact float in [0, 1). */
float wl_uniform(uint64_t seed, uint64_t counter) {
  uint64_t z = (seed ^ 0x6a09e667f3bcc908u) + counter * 0x9e3779b97f4a7c15u;
  z = (z ^ z >> 30) * 0xbf58476d1ce4e5b9u;
  z = (z ^ z >> 27) * 0x94d049bb133111ebu;
  z ^= z >> 31;
  return (float)(z >> 40) * 0x1p-24f;
}

void wl_noise_forward(float *u, long n, uint64_t seed) {
#pragma omp parallel for schedule(static)
  for (long i = 0; i < n; i++) u[i] += wl_uniform(seed, (uint64_t)i) - 0.5f;
}
