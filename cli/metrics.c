/* metrics.c: SNR, WaLLoC's PSNR, SI-SDR and log-spectral distance of decoded audio y against
 * its original x (metrics.h). x and y are [C][n] integer-valued samples of `depth` bits held as
 * float; sums run in double, spectra in FFTW single precision. tests/test_metrics.py checks every
 * value against an independent numpy implementation. */
#include <fftw3.h>
#include <math.h>
#include <stdlib.h>
#include "cli/metrics.h"

/* Log-spectral distance framing: periodic Hann windows of LSD_N samples every LSD_HOP, on
 * samples scaled to [-1, 1) by 2^-(depth-1); LSD_EPS is added to both power spectra. */
#define LSD_N 2048
#define LSD_HOP 512
#define LSD_EPS 1e-10

/* 10 log10(num / den): INFINITY when den is 0 (no error). */
static double db(double num, double den) { return den > 0 ? 10 * log10(num / den) : INFINITY; }

static double mean(const float *x, long n) {
  double s = 0;
  for (long i = 0; i < n; i++) s += x[i];
  return s / (double)n;
}

/* The sums of one channel that SNR, PSNR and SI-SDR need, over its n samples; mx, my are the
 * means of x and y:
 *   energy = sum x^2, se = sum (x - y)^2                                 (SNR, PSNR)
 *   peak = max |x - mx|                                                  (PSNR's scale)
 *   xx = sum (x - mx)^2, yy = sum (y - my)^2, xy = sum (x - mx)(y - my)  (SI-SDR) */
typedef struct { double energy, se, peak, xx, yy, xy; } channel_sums;

static channel_sums sums(const float *x, const float *y, long n) {
  const double mx = mean(x, n), my = mean(y, n);
  channel_sums s = {0};
  for (long i = 0; i < n; i++) {
    const double a = x[i] - mx, b = y[i] - my, d = (double)x[i] - y[i];
    s.energy += (double)x[i] * x[i];
    s.se += d * d;
    s.peak = fmax(s.peak, fabs(a));
    s.xx += a * a;
    s.yy += b * b;
    s.xy += a * b;
  }
  return s;
}

/* SI-SDR of one channel (Le Roux et al., "SDR - half-baked or well done?", ICASSP 2019), on the
 * zero-mean signals a = x - mx, b = y - my: the target is the projection alpha a, alpha =
 * <b,a>/<a,a>, and SI-SDR = 10 log10(|alpha a|^2 / |b - alpha a|^2), where |alpha a|^2 = xy^2/xx
 * and |b - alpha a|^2 = yy - xy^2/xx. NAN for a silent (constant) original. */
static double si_sdr(const channel_sums *s) {
  if (!(s->xx > 0)) return NAN;
  const double target = s->xy * s->xy / s->xx;
  return db(target, fmax(s->yy - target, 0));
}

/* P[k] = |sum_t w[t] x[t0 + t] scale e^(-2 pi i k t / LSD_N)|^2, k = 0 .. LSD_N/2: the power
 * spectrum of the windowed frame at t0 of x (n samples; zeros past the end). */
static void power(fftwf_plan plan, const float *w, const float *x, long n, long t0, float scale, float *in,
                  fftwf_complex *out, double *P) {
  for (long t = 0; t < LSD_N; t++) in[t] = t0 + t < n ? w[t] * x[t0 + t] * scale : 0;
  fftwf_execute_dft_r2c(plan, in, out);
  for (int k = 0; k <= LSD_N / 2; k++) P[k] = (double)out[k][0] * out[k][0] + (double)out[k][1] * out[k][1];
}

/* The log-spectral distance of every channel: frames start at t0 = 0, LSD_HOP, 2 LSD_HOP ...,
 * the last being the first that reaches the end (1 + ceil((n - LSD_N) / LSD_HOP) frames; one
 * when n <= LSD_N), samples past the end are zeros. With P, Q the power spectra of x and y,
 *   LSD(frame) = sqrt(mean over k = 0 .. LSD_N/2 of (10 log10((P[k] + eps) / (Q[k] + eps)))^2),
 * and the result is the mean over all frames of all channels; -1 when out of memory. */
static double lsd(const wl_audio *x, const wl_audio *y) {
  const long n = x->frames, F = 1 + (n > LSD_N ? (n - LSD_N + LSD_HOP - 1) / LSD_HOP : 0);
  const long total = F * x->channels;
  const float scale = ldexpf(1, 1 - x->depth);
  float w[LSD_N];
  for (int t = 0; t < LSD_N; t++) w[t] = (float)(0.5 - 0.5 * cos(2 * M_PI * t / LSD_N)); /* periodic Hann */
  float *in0 = malloc(sizeof(float) * LSD_N);
  fftwf_complex *out0 = malloc(sizeof(fftwf_complex) * (LSD_N / 2 + 1));
  /* one plan for every thread: fftwf_execute_dft_r2c is thread-safe, planning is not */
  fftwf_plan plan = in0 && out0 ? fftwf_plan_dft_r2c_1d(LSD_N, in0, out0, FFTW_ESTIMATE | FFTW_UNALIGNED) : NULL;
  free(in0);
  free(out0);
  double sum = 0;
  int oom = !plan;
#pragma omp parallel if (plan) reduction(+ : sum)
  {
    float *in = malloc(sizeof(float) * LSD_N);
    fftwf_complex *out = malloc(sizeof(fftwf_complex) * (LSD_N / 2 + 1));
    double *P = malloc(sizeof(double) * (LSD_N + 2)); /* P, then Q */
    if (!in || !out || !P) {
#pragma omp atomic write
      oom = 1;
    }
#pragma omp for schedule(static)
    for (long i = 0; i < total; i++) {
      if (!plan || !in || !out || !P) continue;
      const long c = i / F, t0 = i % F * LSD_HOP;
      power(plan, w, x->samples + c * n, n, t0, scale, in, out, P);
      power(plan, w, y->samples + c * n, n, t0, scale, in, out, P + LSD_N / 2 + 1);
      double s = 0;
      for (int k = 0; k <= LSD_N / 2; k++) {
        const double d = 10 * log10((P[k] + LSD_EPS) / (P[LSD_N / 2 + 1 + k] + LSD_EPS));
        s += d * d;
      }
      sum += sqrt(s / (LSD_N / 2 + 1));
    }
    free(in);
    free(out);
    free(P);
  }
  if (plan) fftwf_destroy_plan(plan);
  return oom ? -1 : sum / (double)total;
}

/* SNR = 10 log10(sum x^2 / sum (x - y)^2) over all N = C n samples.
 * PSNR (WaLLoC): per channel the original's mean mx is removed from x and y, and both are scaled
 * by g = 0.5 / max over the clip of |x - mx|; PSNR = -10 log10(mean (g (x - y))^2)
 * = 10 log10(N (2 max |x - mx|)^2 / sum (x - y)^2); NAN for a constant original.
 * SI-SDR: the mean over channels of si_sdr(), silent channels left out. LSD: lsd(). */
int cli_audio_quality_measure(const wl_audio *x, const wl_audio *y, cli_audio_quality *q) {
  const long n = x->frames;
  double energy = 0, se = 0, peak = 0, sdr = 0;
  int loud = 0;
  for (int c = 0; c < x->channels; c++) {
    const channel_sums s = sums(x->samples + c * n, y->samples + c * n, n);
    energy += s.energy;
    se += s.se;
    peak = fmax(peak, s.peak);
    const double d = si_sdr(&s);
    if (!isnan(d)) sdr += d, loud++;
  }
  q->snr = db(energy, se);
  q->psnr = peak > 0 ? db((double)n * x->channels * 4 * peak * peak, se) : NAN;
  q->sisdr = loud ? sdr / loud : NAN;
  q->lsd = lsd(x, y);
  return q->lsd < 0 ? -1 : 0;
}
