/* rate.c: the rate term of training and refinement: bits of a latent under the model's
 * per-channel Laplace density, differentiable in the latent and in the density's scale. */
#include <math.h>
#include "codec/train/train.h"

/* Bits of the integer bin of u under a zero-mean Laplace density of scale e^ls, and (when
 * du, dls are given) its derivatives. The bin of a = |u| is [a - 1/2, a + 1/2]. */
double wl_laplace_bits(float u, float ls, float *du, float *dls) {
  const double b = exp(ls), a = fabs(u), r = 1.0 / b;
  double bits, dda, ddb; /* d bits / d a, d bits / d b */
  if (a >= 0.5) {        /* P = e^{-(a-1/2)/b} (1 - e^{-1/b}) / 2 */
    double em = exp(-r);
    bits = (M_LN2 + (a - 0.5) * r - log1p(-em)) / M_LN2;
    dda = r / M_LN2;
    ddb = (-(a - 0.5) * r * r + em / (1 - em) * r * r) / M_LN2;
  } else {               /* P = 1 - (e^{-(1/2-a)/b} + e^{-(1/2+a)/b}) / 2 */
    double e1 = exp(-(0.5 - a) * r), e2 = exp(-(0.5 + a) * r), Pb = 1 - 0.5 * (e1 + e2);
    if (Pb < 1e-12) Pb = 1e-12;
    bits = -log(Pb) / M_LN2;
    dda = (0.5 * (e1 * r - e2 * r)) / Pb / M_LN2;
    ddb = (0.5 * (e1 * (0.5 - a) + e2 * (0.5 + a)) * r * r) / Pb / M_LN2;
  }
  if (du) *du = (float)(u < 0 ? -dda : dda);
  if (dls) *dls = (float)(ddb * b);
  return bits;
}
