/* postfilter.c: the FIR post-filter as products of spectra (postfilter.h); decoding filters a
 * block of any length by overlap-save (wl_fir_apply). With g the taps laid
 * out circularly (g[(t - F/2) mod n] += h[t]) and capitals for FFTW's unnormalised r2c:
 *   forward   y  = c2r(conj(G) X) / n            (correlation with g)
 *   backward  dx = c2r(G DY) / n,  dg = c2r(conj(DY) X) / n,  dh[t] = dg[(t - F/2) mod n] */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/postfilter.h"

static pthread_mutex_t planner = PTHREAD_MUTEX_INITIALIZER; /* FFTW's planner is not thread-safe */

void wl_fftw_planner(int lock) {
  if (lock) pthread_mutex_lock(&planner);
  else pthread_mutex_unlock(&planner);
}

int wl_fir_plan_init(wl_fir_plan *p, long n) {
  float *r = fftwf_malloc(sizeof(float) * (size_t)n);
  fftwf_complex *c = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(n / 2 + 1));
  p->n = n;
  p->r2c = p->c2r = NULL;
  if (r && c && n > 0 && n <= 1L << 30) {
    wl_fftw_planner(1);
    p->r2c = fftwf_plan_dft_r2c_1d((int)n, r, c, FFTW_ESTIMATE | FFTW_UNALIGNED);
    p->c2r = fftwf_plan_dft_c2r_1d((int)n, c, r, FFTW_ESTIMATE | FFTW_UNALIGNED);
    wl_fftw_planner(0);
  }
  fftwf_free(r);
  fftwf_free(c);
  if (p->r2c && p->c2r) return 0;
  wl_fir_plan_free(p);
  return WL_FAIL(WL_ERR_NOMEM);
}

void wl_fir_plan_free(wl_fir_plan *p) {
  wl_fftw_planner(1);
  if (p->r2c) fftwf_destroy_plan(p->r2c);
  if (p->c2r) fftwf_destroy_plan(p->c2r);
  wl_fftw_planner(0);
  p->r2c = p->c2r = NULL;
}

void wl_fir_spectrum(const wl_fir_plan *p, const float *h, int F, float *work, fftwf_complex *G) {
  memset(work, 0, sizeof(float) * (size_t)p->n);
  for (int t = 0; t < F; t++) work[wl_fir_tap(t, F, p->n)] += h[t];
  fftwf_execute_dft_r2c(p->r2c, work, G);
}

void wl_fir_forward(const wl_fir_plan *p, const fftwf_complex *G, const float *x, float *y, fftwf_complex *V,
                    fftwf_complex *T) {
  fftwf_execute_dft_r2c(p->r2c, (float *)x, V);
  wl_fir_product(T, G, V, wl_fir_bins(p), 1, 1.0f / (float)p->n);
  fftwf_execute_dft_c2r(p->c2r, T, y);
}

/* x[(i) mod n] for i in [a, a + m) into u: one copy where the range does not wrap. */
static void gather(float *u, const float *x, long n, long a, long m) {
  if (a >= 0 && a + m <= n) {
    memcpy(u, x + a, sizeof(float) * (size_t)m);
    return;
  }
  for (long j = 0; j < m; j++) {
    long i = (a + j) % n;
    u[j] = x[i < 0 ? i + n : i];
  }
}

void wl_fir_blocks(int F, long *N, long *B) {
  long n = 8192;
  while (n < 4L * F) n *= 2;
  *N = n;
  *B = n - 2L * (F / 2); /* outputs per block: the block's 2c edge samples see its wrap */
}

/* Outputs [g0, g1) of one channel into y (y[0]: output g0), blocks of B from g0, each from the
 * samples [b0 - c, b0 - c + N) of x, which holds samples [x0, x0 + len) (len the period: all of
 * them, read periodically). G: the taps' spectrum; V, T: bins of scratch; u: N floats. */
static void fir_channel(const wl_fir_plan *p, long B, int c, const fftwf_complex *G, fftwf_complex *V,
                        fftwf_complex *T, float *u, const float *x, long len, long x0, long g0, long g1, float *y) {
  for (long b0 = g0; b0 < g1; b0 += B) {
    gather(u, x, len, b0 - c - x0, p->n);
    wl_fir_forward(p, G, u, u, V, T);
    memcpy(y + (b0 - g0), u + c, sizeof(float) * (size_t)(g1 - b0 < B ? g1 - b0 : B));
  }
}

/* C channels of x (xs apart, samples [x0, x0 + len)) filtered into outputs [g0, g1) of out (os
 * apart), or with `back` in place through out (NULL: a buffer per channel) and copied back. */
static int fir_run(const float *h, int F, float *x, long xs, long x0, long len, int C, long g0, long g1, float *out,
                   long os, int back) {
  long N, B;
  wl_fir_blocks(F, &N, &B);
  wl_fir_plan p;
  WL_TRY(wl_fir_plan_init(&p, N));
  const long bins = wl_fir_bins(&p);
  wl_first err = WL_FIRST;
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < C; ch++) {
    fftwf_complex *G = fftwf_malloc(sizeof(fftwf_complex) * (size_t)bins * 3);
    float *u = fftwf_malloc(sizeof(float) * (size_t)N), *y = out ? out + ch * os : malloc(sizeof(float) * (size_t)len);
    float *xc = x + ch * xs;
    if (G && u && y) {
      wl_fir_spectrum(&p, h + (long)ch * F, F, u, G);
      fir_channel(&p, B, F / 2, G, G + bins, G + 2 * bins, u, xc, len, x0, g0, g1, y);
      if (back) memcpy(xc, y, sizeof(float) * (size_t)len);
    } else {
      wl_first_note(&err, ch, WL_FAIL(WL_ERR_NOMEM));
    }
    fftwf_free(G);
    fftwf_free(u);
    if (!out) free(y);
  }
  wl_fir_plan_free(&p);
  return err.err;
}

int wl_fir_apply(const float *h, int F, float *x, int C, long n, float *out) {
  return fir_run(h, F, x, n, 0, n, C, 0, n, out, n, 1);
}

int wl_fir_apply_part(const float *h, int F, const float *x, long xs, long x0, long len, int C, long g0, long g1,
                      float *out, long os) {
  return fir_run(h, F, (float *)x, xs, x0, len, C, g0, g1, out, os, 0);
}
