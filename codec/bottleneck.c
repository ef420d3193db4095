/* bottleneck.c: WaLLoC companding quantiser (DESIGN.md, "Autoencoder").
 * u = 2L (Phi(y/s) - 1/2) with L = 2^(B-1) - 1/2 - 1e-3 and s = (2^(B-1) - 1)/1.85, q = round(u),
 * so |q| <= 2^(B-1) - 1, found among tabulated thresholds (so the integers do not depend on
 * the C library's erf): by a cell table, or a binary search. Inverse: y = s Phi^-1(clamp(q/(2L) + 1/2, 1e-4, 1 - 1e-4)). */
#include <math.h>
#include <stdlib.h>
#include "codec/internal.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_QUANTISE 1
#endif

#define INV_SQRT_2PI 0.39894228040143267794 /* the standard normal pdf phi(z) = e^(-z^2/2) / sqrt(2 pi) */

void wl_compand_params(int bits, double *L, double *s) {
  double h = ldexp(1.0, bits - 1);
  *L = h - 0.5 - 1e-3;
  *s = (h - 1.0) / 1.85;
}

/* Phi^-1(p), p in (0, 1): P. J. Acklam's rational approximation (relative error < 1.15e-9),
 * then one Halley step on Phi(x) - p, which brings it close to double precision. */
double wl_probit(double p) {
  static const double a[6] = {-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02,
                              1.383577518672690e+02,  -3.066479806614716e+01, 2.506628277459239e+00};
  static const double b[5] = {-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02,
                              6.680131188771972e+01, -1.328068155288572e+01};
  static const double c[6] = {-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00,
                              -2.549671010050355e+00, 4.374664141464968e+00,  2.938163982698783e+00};
  static const double d[4] = {7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00,
                              3.754408661907416e+00};
  double x;
  if (p < 0.02425 || p > 1 - 0.02425) { /* tails, by symmetry from the lower one */
    double q = sqrt(-2 * log(p < 0.5 ? p : 1 - p));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) /
        ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
    if (p > 0.5) x = -x;
  } else {
    double q = p - 0.5, r = q * q;
    x = (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q /
        (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  }
  double e = 0.5 * erfc(-x / M_SQRT2) - p, u = e / (INV_SQRT_2PI * exp(-0.5 * x * x));
  return x - u / (1 + 0.5 * x * u);
}

/* y at which u = 2L(Phi(y/s) - 1/2) crosses q + 1/2: the boundary between q and q + 1. */
static double compand_threshold(int q, double L, double s) { return s * wl_probit(((q + 0.5) / L + 1.0) / 2.0); }

void wl_compand_thresholds(int bits, float *thresh) {
  const int S = 1 << bits;
  double L, s;
  wl_compand_params(bits, &L, &s);
  for (int i = 0; i < S; i++) thresh[i] = i < S - 2 ? (float)compand_threshold(1 - S / 2 + i, L, s) : INFINITY;
}

/* Cells a quarter of the closest thresholds' gap wide (the gap is smallest at 0, about 0.68
 * for every B), from a cell below the first threshold to one above the last; a cell counts the
 * thresholds below its start less a quarter cell, which the float rounding of (y - cy0) cinv
 * never reaches for |y| within the grid. */
int wl_quantise_cells(wl_model *m) {
  const int n = (1 << m->d.bits) - 2;
  m->cell = NULL;
  if (m->d.bits > WL_CELL_BITS) return 0;
  double gap = INFINITY;
  for (int i = 1; i < n; i++) gap = fmin(gap, (double)m->thresh[i] - m->thresh[i - 1]);
  const double w = gap / 4, y0 = m->thresh[0] - 2 * w;
  if (!(gap > 0) || (m->thresh[n - 1] - y0) / w > 65536.0 * 16) return 0; /* thresholds too close: the search */
  const long cells = (long)ceil((m->thresh[n - 1] + 2 * w - y0) / w) + 1;
  uint16_t *cell = malloc(sizeof(uint16_t) * (size_t)(cells + 1)); /* + 1: the 32-bit gather of the last */
  if (!cell) return WL_FAIL(WL_ERR_NOMEM);
  for (long c = 0, i = 0; c < cells; c++) {
    while (i < n && m->thresh[i] < y0 + (c - 0.25) * w) i++;
    cell[c] = (uint16_t)i;
  }
  cell[cells] = cell[cells - 1];
  m->cell = cell, m->cy0 = (float)y0, m->cinv = (float)(1 / w), m->cells = (int)cells;
  return 0;
}

#ifdef HAVE_AVX2_QUANTISE
/* wl_quantise_row's values 8 at a time through the cell table, with wl_quantise's operations:
 * the index clamped (NaN to 0, as f > 0 ? f : 0 takes it: max and min return their second
 * operand on NaN) and truncated, the cell's count (a 32-bit gather of 16-bit cells, masked), the
 * two thresholds above it, the padding's clamp; so the same q. Returns how many it did. */
__attribute__((target("avx2"))) static long quantise_avx2(const wl_model *m, const float *y, float b, long n,
                                                           int16_t *q) {
  const int half = 1 << (m->d.bits - 1);
  const __m256 cy0 = _mm256_set1_ps(m->cy0), cinv = _mm256_set1_ps(m->cinv), bias = _mm256_set1_ps(b);
  const __m256 top = _mm256_set1_ps((float)(m->cells - 1)), zero = _mm256_setzero_ps();
  const __m256i lomax = _mm256_set1_epi32(2 * half - 2), off = _mm256_set1_epi32(half - 1),
                low16 = _mm256_set1_epi32(0xffff);
  long j = 0;
  for (; j + 8 <= n; j += 8) {
    const __m256 v = _mm256_add_ps(_mm256_loadu_ps(y + j), bias);
    const __m256 f = _mm256_min_ps(_mm256_max_ps(_mm256_mul_ps(_mm256_sub_ps(v, cy0), cinv), zero), top);
    __m256i lo = _mm256_and_si256(_mm256_i32gather_epi32((const int *)m->cell, _mm256_cvttps_epi32(f), 2), low16);
    const __m256 t0 = _mm256_i32gather_ps(m->thresh, lo, 4), t1 = _mm256_i32gather_ps(m->thresh + 1, lo, 4);
    lo = _mm256_sub_epi32(lo, _mm256_castps_si256(_mm256_cmp_ps(t0, v, _CMP_LE_OQ))); /* true is -1 */
    lo = _mm256_sub_epi32(lo, _mm256_castps_si256(_mm256_cmp_ps(t1, v, _CMP_LE_OQ)));
    const __m256i r = _mm256_sub_epi32(_mm256_min_epi32(lo, lomax), off);
    _mm_storeu_si128((__m128i *)(q + j), _mm_packs_epi32(_mm256_castsi256_si128(r), _mm256_extracti128_si256(r, 1)));
  }
  return j;
}
#endif

void wl_quantise_row(const wl_model *m, const float *y, float b, long n, int16_t *q) {
  long j = 0;
#ifdef HAVE_AVX2_QUANTISE
  if (m->cell && __builtin_cpu_supports("avx2")) j = quantise_avx2(m, y, b, n, q);
#endif
  for (; j < n; j++) q[j] = wl_quantise(m, y[j] + b);
}

double wl_dequantise_one(int q, double L, double s) {
  double p = q / (2.0 * L) + 0.5;
  p = p < 1e-4 ? 1e-4 : p > 1.0 - 1e-4 ? 1.0 - 1e-4 : p;
  return s * wl_probit(p);
}
