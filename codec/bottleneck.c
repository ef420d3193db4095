/* bottleneck.c: WaLLoC companding quantiser (DESIGN.md, "Autoencoder").
 * u = 2L (Phi(y/s) - 1/2) with L = 2^(B-1) - 1/2 - 1e-3 and s = (2^(B-1) - 1)/1.85, q = round(u),
 * so |q| <= 2^(B-1) - 1. Inverse: y = s Phi^-1(clamp(q/(2L) + 1/2, 1e-4, 1 - 1e-4)). */
#include <math.h>
#include "codec/internal.h"

void wl_compand_params(int bits, double *L, double *s) {
  double h = ldexp(1.0, bits - 1);
  *L = h - 0.5 - 1e-3;
  *s = (h - 1.0) / 1.85;
}

int16_t wl_quantise(float y, double L, double s) {
  double u = L * erf((double)y / (s * M_SQRT2)); /* 2L(Phi(z) - 1/2) = L erf(z / sqrt 2) */
  return (int16_t)lrint(u);
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

double wl_dequantise(int q, double L, double s) {
  double p = q / (2.0 * L) + 0.5;
  p = p < 1e-4 ? 1e-4 : p > 1.0 - 1e-4 ? 1.0 - 1e-4 : p;
  return s * probit(p);
}
