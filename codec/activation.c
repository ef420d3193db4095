/* activation.c: SiLU and the epilogue of a convolution (bias, residual, SiLU), shared by the
 * im2col path (layers.c) and Winograd's (winograd.c). */
#include <math.h>
#include <stdint.h>
#include <string.h>
#include "codec/layers.h"
#include "wavelet/wpt.h"

/* GCC if-converts the clamps in silu1 (and so vectorises the loops that call it; it
 * has the same option, so that they may inline it) only when comparisons may not
 * trap; this changes no value. */
#if defined(__GNUC__) && !defined(__clang__)
#define NO_TRAPS __attribute__((optimize("no-trapping-math")))
#else
#define NO_TRAPS
#endif

/* SiLU x sigma(x) with e = e^-|x| computed here, so that the loops vectorise (the C library's
 * expf is a call per value, and a copy of its own per CPU): sigma(|x|) = 1 / (1 + e), sigma(x) =
 * e sigma(|x|) for x < 0. u = -|x| clamped to -87 (e flushed to 0 below, where SiLU is under
 * 2e-36), u = n ln 2 + r with n = rint(u / ln 2) (Cody-Waite: ln 2 in two parts), e^r by
 * Cephes' degree-6 polynomial (|r| <= ln 2 / 2, relative error under 2e-7), 2^n put in the
 * exponent bits. One division and no branch: elementwise and, under -ffp-contract=off,
 * unfused, so the AVX2 clones give the default ones' bits. */
NO_TRAPS static inline float silu1(float x) {
  const float a = fabsf(x), u = a < 87.0f ? -a : -87.0f;
  const float k = (u * 1.44269504f + 12582912.0f) - 12582912.0f; /* rint: |u / ln 2| < 2^22 */
  const float r = (u - k * 0.693359375f) + k * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * (r * r) + r + 1.0f;
  union { uint32_t u; float f; } two = {.u = (uint32_t)((int32_t)k + 127) << 23};
  const float e = a < 87.0f ? p * two.f : 0.0f, s = 1.0f / (1.0f + e);
  return x * (x < 0.0f ? e * s : s);
}

WL_CLONES NO_TRAPS static void silu_span(float *restrict y, const float *restrict x, long n) {
#pragma omp simd
  for (long i = 0; i < n; i++) y[i] = silu1(x[i]);
}

/* A convolution's output row of m positions from its product acc: v = acc + b, v = res + v with a
 * residual, y = v and, with act, act = silu(v). acc is act's row (with act), y's, or apart; y may
 * be res or act (then act's value is the last one stored). */
WL_CLONES NO_TRAPS static void finish_row(float *y, float *act, const float *acc, const float *res, float b, long m) {
  if (res && act) {
#pragma omp simd
    for (long j = 0; j < m; j++) {
      const float v = res[j] + (acc[j] + b);
      y[j] = v;
      act[j] = silu1(v);
    }
  } else if (res) {
#pragma omp simd
    for (long j = 0; j < m; j++) y[j] = res[j] + (acc[j] + b);
  } else if (act) {
#pragma omp simd
    for (long j = 0; j < m; j++) {
      const float v = acc[j] + b;
      y[j] = v;
      act[j] = silu1(v);
    }
  } else {
#pragma omp simd
    for (long j = 0; j < m; j++) y[j] = acc[j] + b;
  }
}

void wl_conv_finish(float *y, float *act, const float *acc, const float *res, float b, int raw, long m) {
  if (raw) memcpy(y, acc, sizeof(float) * m);
  else finish_row(y, act, acc, res, b, m);
}

void wl_silu_span(float *y, const float *x, long n) { silu_span(y, x, n); }
