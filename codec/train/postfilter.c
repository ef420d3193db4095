/* train/postfilter.c: the backward pass of the FIR post-filter (codec/postfilter.c, whose
 * header gives the spectra's conventions), for training 1-D models. */
#include "codec/train/train.h"

void wl_fir_backward(const wl_fir_plan *p, const fftwf_complex *G, const fftwf_complex *V, float *dy, int F,
                     float *dh, float *work, fftwf_complex *T, fftwf_complex *U) {
  const long bins = wl_fir_bins(p);
  const float s = 1.0f / (float)p->n;
  fftwf_execute_dft_r2c(p->r2c, dy, T);
  wl_fir_product(U, T, V, bins, 1, s);
  fftwf_execute_dft_c2r(p->c2r, U, work);
  for (int t = 0; t < F; t++) dh[t] += work[wl_fir_tap(t, F, p->n)];
  wl_fir_product(U, G, T, bins, 0, s);
  fftwf_execute_dft_c2r(p->c2r, U, dy);
}
