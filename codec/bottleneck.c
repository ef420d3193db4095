/* bottleneck.c: WaLLoC companding quantiser (DESIGN.md, "Autoencoder").
 * u = 2L (Phi(y/s) - 1/2) with L = 2^(B-1) - 1/2 - 1e-3 and s = (2^(B-1) - 1)/1.85, q = round(u),
 * so |q| <= 2^(B-1) - 1, found by binary search in tabulated thresholds (so the integers
 * do not depend on the C library's erf). Inverse: y = s Phi^-1(clamp(q/(2L) + 1/2, 1e-4, 1 - 1e-4)). */
#include <math.h>
#include "codec/internal.h"

void wl_compand_params(int bits, double *L, double *s) {
  double h = ldexp(1.0, bits - 1);
  *L = h - 0.5 - 1e-3;
  *s = (h - 1.0) / 1.85;
}

/* Phi^-1(p) by Newton's method on erfc, from a logistic start; p in [1e-4, 1 - 1e-4]. */
static double probit(double p) {
  double z = -log(1.0 / p - 1.0) / 1.702;
  for (int it = 0; it < 50; it++) {
    double e = 0.5 * erfc(-z / M_SQRT2) - p;
    double step = e / (exp(-0.5 * z * z) / sqrt(2.0 * M_PI));
    z -= step;
    if (fabs(step) < 1e-12) break;
  }
  return z;
}

/* y at which u = 2L(Phi(y/s) - 1/2) crosses q + 1/2: the boundary between q and q + 1. */
double wl_compand_threshold(int q, double L, double s) { return s * probit(((q + 0.5) / L + 1.0) / 2.0); }

int16_t wl_quantise(const float *thresh, int bits, float y) {
  /* q = -(2^(B-1) - 1) + #{thresholds <= y}; thresh has 2^B - 2 ascending entries, padded
   * to 2^B with +inf so the branchless search below always takes B steps. */
  int lo = 0;
  for (int step = 1 << (bits - 1); step; step >>= 1)
    if (thresh[lo + step - 1] <= y) lo += step;
  return (int16_t)(lo - ((1 << (bits - 1)) - 1));
}

double wl_dequantise(int q, double L, double s) {
  double p = q / (2.0 * L) + 0.5;
  p = p < 1e-4 ? 1e-4 : p > 1.0 - 1e-4 ? 1.0 - 1e-4 : p;
  return s * probit(p);
}
