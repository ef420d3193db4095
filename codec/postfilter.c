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

int wl_fir_apply(const float *h, int F, float *x, int C, long n, float *out) {
  const int c = F / 2;
  long N = 8192;
  while (N < 4L * F) N *= 2;
  const long B = N - 2L * c; /* outputs per block: the block's 2c edge samples see its wrap */
  wl_fir_plan p;
  WL_TRY(wl_fir_plan_init(&p, N));
  const long bins = wl_fir_bins(&p);
  wl_first err = WL_FIRST;
#pragma omp parallel for schedule(static)
  for (int ch = 0; ch < C; ch++) {
    fftwf_complex *G = fftwf_malloc(sizeof(fftwf_complex) * (size_t)bins * 3);
    float *u = fftwf_malloc(sizeof(float) * (size_t)N), *y = out ? out + ch * n : malloc(sizeof(float) * (size_t)n);
    float *xc = x + ch * n;
    if (G && u && y) {
      wl_fir_spectrum(&p, h + (long)ch * F, F, u, G);
      for (long b0 = 0; b0 < n; b0 += B) {
        gather(u, xc, n, b0 - c, N);
        wl_fir_forward(&p, G, u, u, G + bins, G + 2 * bins);
        memcpy(y + b0, u + c, sizeof(float) * (size_t)(n - b0 < B ? n - b0 : B));
      }
      memcpy(xc, y, sizeof(float) * (size_t)n);
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
