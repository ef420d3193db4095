/* postfilter.h: the learned FIR post-filter of 1-D models, a circular correlation computed
 * with FFTW (r2c/c2r) over a block of n samples:
 *   y[i] = sum_{t=0}^{F-1} h[t] x[(i + t - F/2) mod n]        (F odd taps, centred)
 * Applied to each channel of the decoded, still padded signal (DESIGN.md, "Audio"); trained
 * jointly with the decoder on segments of the same circular layout. */
#ifndef WL_POSTFILTER_H
#define WL_POSTFILTER_H
/* fftwf_complex stays float[2] even where <complex.h> came first (OpenBLAS's cblas.h includes it) */
#define FFTW_NO_Complex
#include <fftw3.h>

typedef struct {
  long n;                  /* block length */
  fftwf_plan r2c, c2r;     /* FFTW_ESTIMATE plans: deterministic, executed with new arrays */
} wl_fir_plan;

/* FFTW's planner (creating and destroying plans) is not thread-safe: every plan the library
 * makes or frees is under this one lock (1: take it, 0: release it). */
void wl_fftw_planner(int lock);
/* Creates the plans of length n (thread-safe: the planner runs under the lock). */
int wl_fir_plan_init(wl_fir_plan *p, long n);
void wl_fir_plan_free(wl_fir_plan *p);
/* Complex bins of a block (n / 2 + 1). */
static inline long wl_fir_bins(const wl_fir_plan *p) { return p->n / 2 + 1; }

/* G (bins) = spectrum of taps h (F) laid out circularly over n samples; work: n floats. */
void wl_fir_spectrum(const wl_fir_plan *p, const float *h, int F, float *work, fftwf_complex *G);
/* y = h (*) x for one channel; V (bins) receives x's spectrum, T (bins) is scratch; y may be x. */
void wl_fir_forward(const wl_fir_plan *p, const fftwf_complex *G, const float *x, float *y, fftwf_complex *V,
                    fftwf_complex *T);
/* The forward filter of C channels x (C, n) in place with taps h (C, F): the same circular
 * correlation over n, by overlap-save in blocks of a fixed FFT length (8192, or 4F and up).
 * out: C n floats of scratch (a decoder's kept buffer, so that each chunk does not fault in
 * fresh pages), or NULL for buffers of its own. */
int wl_fir_apply(const float *h, int F, float *x, int C, long n, float *out);
/* The FFT length *N of wl_fir_apply's blocks for F taps, and the outputs *B of each: block k
 * gives outputs [k B, k B + B) from the samples [k B - F/2, k B + B + F/2). */
void wl_fir_blocks(int F, long *N, long *B);
/* Outputs [g0, g1) of wl_fir_apply over a signal of period n, the same bits (g0 a multiple of B,
 * g1 one too or n): x (C channels xs apart) holds its samples [x0, x0 + len), unwrapped (below 0
 * and from n on: those mod n), which must cover what the blocks read: [g0 - F/2, g1' + F/2),
 * g1' the multiple of B from g1 up; into out (channels os apart). */
int wl_fir_apply_part(const float *h, int F, const float *x, long xs, long x0, long len, int C, long g0, long g1,
                      float *out, long os);

/* The circular offset of tap t. */
static inline long wl_fir_tap(int t, int F, long n) {
  long i = ((long)t - F / 2) % n;
  return i < 0 ? i + n : i;
}

/* T = A B (conj_a: conj(A) B), scaled by s. */
static inline void wl_fir_product(fftwf_complex *T, const fftwf_complex *A, const fftwf_complex *B, long bins,
                                  int conj_a, float s) {
  const float sg = conj_a ? -1.0f : 1.0f;
  for (long f = 0; f < bins; f++) {
    const float ar = A[f][0], ai = sg * A[f][1], br = B[f][0], bi = B[f][1];
    T[f][0] = s * (ar * br - ai * bi);
    T[f][1] = s * (ar * bi + ai * br);
  }
}
#endif
