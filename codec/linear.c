/* linear.c: the 1x1 projections of the autoencoder, y = W x + b at every latent position.
 * A small blocked GEMM with a fixed summation order, so results do not depend on the
 * thread count (encoded bytes are identical for -T1 and -T2). */
#include "codec/internal.h"

#define BLOCK 256 /* positions per block: x block (D x BLOCK floats) stays in L2 */

/* y (K, P) = W (K, D) . x (D, P) + b (K) */
void wl_affine(const float *W, const float *b, const float *x, int K, int D, long P, float *y) {
  long nblk = (P + BLOCK - 1) / BLOCK;
#pragma omp parallel for schedule(static)
  for (long blk = 0; blk < nblk; blk++) {
    long p0 = blk * BLOCK, n = P - p0 < BLOCK ? P - p0 : BLOCK;
    for (int k = 0; k < K; k++) {
      float acc[BLOCK];
      for (long i = 0; i < n; i++) acc[i] = b ? b[k] : 0.0f;
      for (int d = 0; d < D; d++) {
        const float w = W[(long)k * D + d], *xd = x + (long)d * P + p0;
        for (long i = 0; i < n; i++) acc[i] += w * xd[i];
      }
      float *yk = y + (long)k * P + p0;
      for (long i = 0; i < n; i++) yk[i] = acc[i];
    }
  }
}
