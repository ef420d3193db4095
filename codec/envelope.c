/* envelope.c: the band envelope of audio (envelope.h). A latent code that keeps a few packet
 * channels loses most of the high band: the decoder puts out 0.6% of a song's energy at 4-8 kHz,
 * and adds artefacts where the original is nearly silent (above a Vorbis source's cut-off). Both
 * are fixed the way Opus and AAC keep the spectral envelope of what they do not code exactly.
 *
 * Analysis: frames of N samples every H = N / 2 (N = 2^round(log2(rate / 11)), 4096 at 44.1 and
 * 48 kHz, 1024 at 16 kHz), window w[j] = sin(pi (j + 1/2) / N); w^2 of neighbouring frames sum
 * to 1, so windowing twice and adding the frames back restores the signal. Samples outside the
 * span count as zeros, on both sides alike. A band's power is P = 2 mean |X_k|^2 / N over its bins
 * (X = the unnormalised DFT of the windowed frame, samples scaled to full scale 1), which is the
 * variance of white noise, and its value v = round(10 log10(P) / 3), clamped to WL_ENV_MIN ..
 * WL_ENV_MAX. Bands: 0, 500, 1000, 1500, 2000, 3000, 4000, 5000, 6000, 8000, 10000, 12000, 16000,
 * 20000 Hz up; bin k is in the last band whose edge e has e N <= k rate; bands that start at or
 * above the Nyquist bin join the one below.
 *
 * Restoration, per frame and band, with Q = 10^(0.3 v) and Ph the decoded band's power:
 *   Ph > Q 10^0.15 (above v's interval): the band is scaled to power Q 10^0.15;
 *   Ph < 0.4 Q (the decoder lost most of it): noise of power 0.8 Q - Ph is added, each bin
 *   sqrt(N (0.8 Q - Ph)) e^(i phi), phi from a hash of (frame, channel, bin).
 * Between the two the band is left alone: noise there would cost SNR for little gain. Noise
 * costs its own power in SNR whatever its shape (it is uncorrelated with what it stands for),
 * so 0.8 (-1 dB) trades a little band energy for SNR: on held-out music at 16 kbps, 0.8 against
 * 1.0 kept 0.82 of the 4-8 kHz energy instead of 1.02, gained 0.4 dB SNR, and lowered LSD by
 * 0.15 dB. The threshold 0.4 (against 0.2) fills bands that a coarse detail layer leaves a
 * third full: at that rate with the audio ladder, 0.80 of the 4-8 kHz energy kept instead of
 * 0.72, LSD 0.17 dB lower, SNR 0.4 dB lower. The choice of bands, N, the 3 dB step and the thresholds: codec/models/README.md,
 * "Band envelope". */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/envelope.h"
#if defined(__x86_64__) && defined(__GNUC__)
#include <immintrin.h>
#define HAVE_AVX2_ENV 1
#endif

static const int edges[WL_ENV_BANDS_MAX] = {0, 500, 1000, 1500, 2000, 2500, 3000, 3500, 4000, 5000, 6000, 7000, 8000, 9000, 10000, 11000, 12000, 13000, 14000, 15000, 16000, 17000, 18000, 20000};

#define FILL_BELOW 0.4 /* noise where the decoded band has under 0.4 of the power, */
#define FILL_GAIN 0.8   /* up to 0.8 of it (-1 dB) */

int wl_env_layout(int rate, int *N, int start[WL_ENV_BANDS_MAX + 1]) {
  int lg = 0, bands = 0;
  while (lg < 16 && (double)(2L << lg) * 11 <= rate * M_SQRT2) lg++; /* round(log2(rate / 11)) */
  *N = 1 << (lg < 8 ? 8 : lg > 14 ? 14 : lg);
  const int half = *N / 2;
  for (int b = 0; b < WL_ENV_BANDS_MAX; b++) {
    const int k = (int)(((int64_t)edges[b] * *N + rate - 1) / rate); /* first bin with k rate >= e N */
    if (b && k >= half) break;
    if (b && k <= start[bands - 1]) continue; /* no bin of its own (rates of MHz) */
    start[bands++] = k;
  }
  start[bands] = half + 1;
  return bands;
}

int wl_env_init(wl_env *e, int rate, int decoder) {
  memset(e, 0, sizeof *e);
  e->bands = wl_env_layout(rate, &e->N, e->start);
  const int half = e->N / 2;
  e->window = malloc(sizeof(float) * (size_t)e->N);
  e->frame = fftwf_malloc(sizeof(float) * (size_t)e->N * WL_ENV_LANES);
  e->spectrum = fftwf_malloc(sizeof(fftwf_complex) * (size_t)(half + 8) * WL_ENV_LANES);
  if (!decoder) {
    e->twiddle = malloc(sizeof(float) * 2 * (size_t)(half / 2 + 1));
    e->power = fftwf_malloc(sizeof(double) * (size_t)(half + 8) * WL_ENV_LANES);
  }
  if (e->window && e->frame && e->spectrum && (decoder || (e->twiddle && e->power))) {
    for (int j = 0; j < e->N; j++) e->window[j] = (float)sin(M_PI * (j + 0.5) / e->N);
    for (int k = 0; !decoder && k <= half / 2; k++) {
      e->twiddle[k] = (float)cos(2 * M_PI * k / e->N);
      e->twiddle[half / 2 + 1 + k] = (float)sin(2 * M_PI * k / e->N);
    }
    memset(e->spectrum, 0, sizeof(fftwf_complex) * (size_t)(half + 8) * WL_ENV_LANES);
    /* lanes past a channel's last frames are summed unused: zeros, then stale powers */
    if (!decoder) memset(e->power, 0, sizeof(double) * (size_t)(half + 8) * WL_ENV_LANES);
    wl_fftw_planner(1); /* each plan only where used: planning even FFTW_ESTIMATE takes milliseconds */
    if (decoder) {
      e->r2c = fftwf_plan_dft_r2c_1d(e->N, e->frame, e->spectrum, FFTW_ESTIMATE);
      e->c2r = fftwf_plan_dft_c2r_1d(e->N, e->spectrum, e->frame, FFTW_ESTIMATE);
    } else {
      e->half = fftwf_plan_dft_1d(half, (fftwf_complex *)e->frame, e->spectrum, FFTW_FORWARD, FFTW_ESTIMATE);
    }
    wl_fftw_planner(0);
  }
  if (decoder ? e->r2c && e->c2r : e->half != NULL) return 0;
  wl_env_free(e);
  return WL_FAIL(WL_ERR_NOMEM);
}

void wl_env_free(wl_env *e) {
  wl_fftw_planner(1);
  if (e->r2c) fftwf_destroy_plan(e->r2c);
  if (e->c2r) fftwf_destroy_plan(e->c2r);
  if (e->half) fftwf_destroy_plan(e->half);
  wl_fftw_planner(0);
  free(e->window);
  free(e->twiddle);
  fftwf_free(e->power);
  fftwf_free(e->frame);
  fftwf_free(e->spectrum);
  memset(e, 0, sizeof *e);
}

void wl_env_frames(int N, int64_t s, long n, int64_t *first, long *count) {
  const int64_t H = N / 2;
  *first = wl_floor_div(s, H) - 1;
  *count = (long)(wl_floor_div(s + n - 1, H) - *first + 1);
}

/* The windowed frame f of a channel of n samples from s, of which x holds those from x0, in
 * frame (N floats). */
static void window_frame(const wl_env *e, const float *x, long x0, int64_t s, long n, int64_t f, float unit,
                         float *restrict frame) {
  const int64_t at = f * (e->N / 2) - s;
  if (at >= 0 && at + e->N <= n) { /* the whole frame inside: one vector loop */
    const float *xf = x + (at - x0);
#pragma omp simd
    for (int j = 0; j < e->N; j++) frame[j] = xf[j] * unit * e->window[j];
  } else {
    for (int j = 0; j < e->N; j++) {
      const int64_t t = at + j;
      frame[j] = t >= 0 && t < n ? x[t - x0] * unit * e->window[j] : 0.0f;
    }
  }
}

/* The same in e->frame, and its spectrum in e->spectrum. */
static void analyse(wl_env *e, const float *x, long x0, int64_t s, long n, int64_t f, float unit) {
  window_frame(e, x, x0, s, n, f, unit, e->frame);
  fftwf_execute(e->r2c);
}

/* |X_k|^2 in double, as every band sum adds it. */
static inline double bin_power(const fftwf_complex X) { return (double)X[0] * X[0] + (double)X[1] * X[1]; }

/* Band b's power P (opening comment) from its bins' sum. */
static double band_power(const wl_env *e, int b, double sum) {
  return 2 * sum / ((double)(e->start[b + 1] - e->start[b]) * e->N);
}

/* Band b's power P in the spectrum at hand. */
static double power(const wl_env *e, int b) {
  double sum = 0;
  for (int k = e->start[b]; k < e->start[b + 1]; k++) sum += bin_power(e->spectrum[k]);
  return band_power(e, b, sum);
}

/* v of a band of power P. */
static int16_t band_value(double P) {
  const double d = P > 0 ? floor(10 * log10(P) / 3 + 0.5) : WL_ENV_MIN;
  return (int16_t)(d < WL_ENV_MIN ? WL_ENV_MIN : d > WL_ENV_MAX ? WL_ENV_MAX : d);
}

/* |X_k|^2 and |X_M-k|^2 of the real frame x (N = 2M samples) whose pairs (x_2m, x_2m+1) have
 * the DFT Z (M points), into power: with Z_M = Z_0, E = (Z_k + conj Z_M-k) / 2 and O = (Z_k -
 * conj Z_M-k) / 2i = p + i q are the DFTs of the even and odd samples, and T = (c - i s) O,
 * c + i s = e^(2 pi i k / N), gives X_k = E + T and X_M-k = conj(E - T) (Numerical Recipes, 3rd
 * ed., sec. 12.3.2). pairs_avx2 does k .. k + 7 with the same operations, so the same bits. */
static inline void pair(const fftwf_complex *Z, int M, int k, float c, float s, double *power) {
  const float ar = Z[k][0], ai = Z[k][1], br = Z[k ? M - k : 0][0], bi = Z[k ? M - k : 0][1];
  const float er = 0.5f * (ar + br), ei = 0.5f * (ai - bi), p = 0.5f * (ai + bi), q = 0.5f * (br - ar);
  const float tr = c * p + s * q, ti = c * q - s * p;
  const float xr = er + tr, xi = ei + ti, yr = er - tr, yi = ei - ti;
  power[k] = (double)xr * xr + (double)xi * xi;
  power[M - k] = (double)yr * yr + (double)yi * yi;
}

#ifdef HAVE_AVX2_ENV
/* pair() for k .. k + 7, 1 <= k, k + 8 <= M / 2; lanes in order of k. */
__attribute__((target("avx2"))) static void pairs_avx2(const fftwf_complex *Z, int M, int k, const float *cs,
                                                       const float *sn, double *power) {
  const __m256i rev = _mm256_setr_epi32(7, 6, 5, 4, 3, 2, 1, 0);
  const __m256 half = _mm256_set1_ps(0.5f);
  /* (re, im) x 8 -> re x 8, im x 8 in order */
#define SPLIT(p, re, im)                                                                                   \
  do {                                                                                                     \
    const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps((p) + 8);                                  \
    re = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0x88)), 0xd8)); \
    im = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v0, v1, 0xdd)), 0xd8)); \
  } while (0)
  __m256 ar, ai, br, bi;
  SPLIT(&Z[k][0], ar, ai);
  SPLIT(&Z[M - k - 7][0], br, bi);
#undef SPLIT
  br = _mm256_permutevar8x32_ps(br, rev), bi = _mm256_permutevar8x32_ps(bi, rev); /* Z_M-k, k ascending */
  const __m256 c = _mm256_loadu_ps(cs + k), s = _mm256_loadu_ps(sn + k);
  const __m256 er = _mm256_mul_ps(half, _mm256_add_ps(ar, br)), ei = _mm256_mul_ps(half, _mm256_sub_ps(ai, bi));
  const __m256 p = _mm256_mul_ps(half, _mm256_add_ps(ai, bi)), q = _mm256_mul_ps(half, _mm256_sub_ps(br, ar));
  const __m256 tr = _mm256_add_ps(_mm256_mul_ps(c, p), _mm256_mul_ps(s, q));
  const __m256 ti = _mm256_sub_ps(_mm256_mul_ps(c, q), _mm256_mul_ps(s, p));
  const __m256 x[4] = {_mm256_add_ps(er, tr), _mm256_add_ps(ei, ti), _mm256_sub_ps(er, tr), _mm256_sub_ps(ei, ti)};
  __m256d pw[4]; /* |X|^2 of k .. k+3, k+4 .. k+7, then |X_M-k|^2 of the same */
  for (int h = 0; h < 2; h++)
    for (int y = 0; y < 2; y++) {
      const __m128 r = h ? _mm256_extractf128_ps(x[2 * y], 1) : _mm256_castps256_ps128(x[2 * y]);
      const __m128 i = h ? _mm256_extractf128_ps(x[2 * y + 1], 1) : _mm256_castps256_ps128(x[2 * y + 1]);
      const __m256d rd = _mm256_cvtps_pd(r), id = _mm256_cvtps_pd(i);
      pw[2 * y + h] = _mm256_add_pd(_mm256_mul_pd(rd, rd), _mm256_mul_pd(id, id));
    }
  _mm256_storeu_pd(power + k, pw[0]);
  _mm256_storeu_pd(power + k + 4, pw[1]);
  _mm256_storeu_pd(power + M - k - 7, _mm256_permute4x64_pd(pw[3], 0x1b)); /* M-k-7 .. M-k-4: k+7 .. k+4 */
  _mm256_storeu_pd(power + M - k - 3, _mm256_permute4x64_pd(pw[2], 0x1b));
}
#endif

/* power[k] = |X_k|^2, k = 0 .. M, from Z (pair()). */
static void half_spectrum_power(const wl_env *e, const fftwf_complex *Z, double *power) {
  const int M = e->N / 2;
  const float *cs = e->twiddle, *sn = e->twiddle + M / 2 + 1;
  int k = 0;
  pair(Z, M, k++, cs[0], sn[0], power);
#ifdef HAVE_AVX2_ENV
  if (__builtin_cpu_supports("avx2"))
    for (; k + 8 <= M / 2; k += 8) pairs_avx2(Z, M, k, cs, sn, power);
#endif
  for (; k <= M / 2; k++) pair(Z, M, k, cs[k], sn[k], power);
}

/* Frames are measured WL_ENV_LANES at a time (fewer at a channel's end): each windowed frame's
 * spectrum from the complex DFT of its N/2 pairs (half_spectrum_power: the r2c plan does the same
 * step in an SSE2 codelet, 40% of its time here), then each band's sum over its bins in bin
 * order, the lanes' sums side by side in registers. */
void wl_env_measure(wl_env *e, const float *x, long cstride, int C, int64_t s, long n, float unit, int16_t *v) {
  int64_t f0;
  long F;
  const size_t stride = (size_t)e->N / 2 + 8;
  wl_env_frames(e->N, s, n, &f0, &F);
  for (int c = 0; c < C; c++)
    for (long f = 0; f < F; f += WL_ENV_LANES) {
      const int lanes = F - f < WL_ENV_LANES ? (int)(F - f) : WL_ENV_LANES;
      for (int l = 0; l < lanes; l++) {
        float *frame = e->frame + (size_t)l * e->N;
        window_frame(e, x + c * cstride, 0, s, n, f0 + f + l, unit, frame);
        fftwf_execute_dft(e->half, (fftwf_complex *)frame, e->spectrum + l * stride);
        half_spectrum_power(e, e->spectrum + l * stride, e->power + l * stride);
      }
      _Static_assert(WL_ENV_LANES == 4, "a register per lane");
      const double *p0 = e->power, *p1 = p0 + stride, *p2 = p1 + stride, *p3 = p2 + stride;
      for (int b = 0; b < e->bands; b++) {
        double s0 = 0, s1 = 0, s2 = 0, s3 = 0; /* in registers: an array here lived on the stack */
        for (int k = e->start[b]; k < e->start[b + 1]; k++) s0 += p0[k], s1 += p1[k], s2 += p2[k], s3 += p3[k];
        const double sum[WL_ENV_LANES] = {s0, s1, s2, s3};
        for (int l = 0; l < lanes; l++) v[(c * F + f + l) * e->bands + b] = band_value(band_power(e, b, sum[l]));
      }
    }
}

/* SplitMix64 (Steele et al. 2014): the noise's phases. */
static uint64_t mix(uint64_t z) {
  z += 0x9e3779b97f4a7c15ULL;
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Restores band b of frame f (channel c) in the spectrum at hand, to value v. */
static void restore(wl_env *e, int b, int v, int64_t f, int c) {
  const double Q = pow(10.0, 0.3 * v), top = Q * 1.4125375446227544 /* 10^0.15 */, P = power(e, b);
  if (P > top) {
    const float g = (float)sqrt(top / P);
    for (int k = e->start[b]; k < e->start[b + 1]; k++) {
      e->spectrum[k][0] *= g;
      e->spectrum[k][1] *= g;
    }
  } else if (P < FILL_BELOW * Q && v > WL_ENV_MIN) {
    const double a = sqrt(e->N * (FILL_GAIN * Q - P));
    const uint64_t seed = mix(((uint64_t)f << 8) ^ (uint64_t)c);
    for (int k = e->start[b]; k < e->start[b + 1]; k++) {
      const double phi = (double)(mix(seed + (uint64_t)k) >> 11) * (2 * M_PI / 9007199254740992.0);
      e->spectrum[k][0] += (float)(a * cos(phi));
      e->spectrum[k][1] += (float)(a * sin(phi));
    }
  }
}

int wl_env_apply_part(wl_env *e, const int16_t *v, const float *x, long xs, long x0, int c0, int C, int64_t s,
                      long n, long t0, long t1, float unit, float lo, float hi, float *out, long os) {
  int64_t f0;
  long F;
  wl_env_frames(e->N, s, n, &f0, &F);
  const float g = 1.0f / ((float)e->N * unit);
  for (int c = c0; c < c0 + C; c++) {
    float *oc = out + (c - c0) * os;
    memset(oc, 0, sizeof(float) * (size_t)(t1 - t0));
    for (long f = 0; f < F; f++) {
      const int64_t at = (f0 + f) * (e->N / 2) - s;
      if (at >= t1 || at + e->N <= t0) continue;
      analyse(e, x + c * xs, x0, s, n, f0 + f, unit);
      for (int b = 0; b < e->bands; b++) restore(e, b, v[(c * F + f) * e->bands + b], f0 + f, c);
      fftwf_execute(e->c2r);
      for (int j = 0; j < e->N; j++)
        if (at + j >= t0 && at + j < t1) oc[at + j - t0] += e->frame[j] * e->window[j] * g;
    }
    for (long t = 0; t < t1 - t0; t++) oc[t] = !(oc[t] >= lo) ? lo : oc[t] > hi ? hi : rintf(oc[t]);
  }
  return 0;
}

int wl_env_apply(wl_env *e, const int16_t *v, float *x, int C, int64_t s, long n, float unit, float lo, float hi) {
  float *out = malloc(sizeof(float) * (size_t)n);
  if (!out) return WL_FAIL(WL_ERR_NOMEM);
  for (int c = 0; c < C; c++) {
    wl_env_apply_part(e, v, x, n, 0, c, 1, s, n, 0, n, unit, lo, hi, out, n);
    memcpy(x + c * n, out, sizeof(float) * (size_t)n);
  }
  free(out);
  return 0;
}
