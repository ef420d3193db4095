/* linear.c: the 1x1 projections of the autoencoder, y = W x + b at every latent position,
 * as one OpenBLAS SGEMM (the OpenMP build, sharing walloc's threads). OpenBLAS splits the
 * output, never the summation, across threads, so -T1 and -T2 give identical bytes (tested);
 * tests/test_codec.c checks it against a plain scalar loop. */
#include <cblas.h>
#include "codec/internal.h"

/* y (K, P) = W (K, D) . x (D, P) + b (K) */
void wl_affine(const float *W, const float *b, const float *x, int K, int D, long P, float *y) {
  if (b)
    for (int k = 0; k < K; k++)
      for (long p = 0; p < P; p++) y[(long)k * P + p] = b[k];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, K, (int)P, D, 1.0f, W, D, x, (int)P, b ? 1.0f : 0.0f, y,
              (int)P);
}
