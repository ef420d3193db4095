/* metrics.c: SNR, WaLLoC's PSNR, SI-SDR, log-spectral and mel-spectral distance and band energy
 * kept of decoded audio y against its original x (metrics.h). x and y are [C][n] integer-valued samples of `depth` bits held as
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

/* Mel bands: MEL_BANDS triangles on the mel scale m(f) = 2595 log10(1 + f / 700) (HTK), their
 * corners at MEL_BANDS + 2 points evenly spaced in m from 0 to m(rate / 2); band b weighs bin k
 * (at f = k rate / LSD_N) by the triangle over points b, b + 1, b + 2. Energy bands for the
 * energy kept: [0, 4), [4, 8), [8, 16) kHz. */
#define MEL_BANDS 40
static const double band_edges[4] = {0, 4000, 8000, 16000};

static double mel(double f) { return 2595 * log10(1 + f / 700); }

/* weight[b][k] of the mel triangles for this rate. */
static void mel_weights(int rate, double (*weight)[LSD_N / 2 + 1]) {
  const double top = mel(rate / 2.0);
  for (int b = 0; b < MEL_BANDS; b++)
    for (int k = 0; k <= LSD_N / 2; k++) {
      const double m = mel((double)k * rate / LSD_N), lo = top * b / (MEL_BANDS + 1), mid = top * (b + 1) / (MEL_BANDS + 1),
                   hi = top * (b + 2) / (MEL_BANDS + 1);
      weight[b][k] = m > lo && m < mid ? (m - lo) / (mid - lo) : m >= mid && m < hi ? (hi - m) / (hi - mid) : 0;
    }
}

/* sqrt(mean over n of (10 log10((p + eps) / (q + eps)))^2). */
static double log_distance(const double *p, const double *q, int n) {
  double s = 0;
  for (int i = 0; i < n; i++) {
    const double d = 10 * log10((p[i] + LSD_EPS) / (q[i] + LSD_EPS));
    s += d * d;
  }
  return sqrt(s / n);
}

/* The spectral measures of every channel: frames start at t0 = 0, LSD_HOP, 2 LSD_HOP ..., the
 * last being the first that reaches the end (1 + ceil((n - LSD_N) / LSD_HOP) frames; one when
 * n <= LSD_N), samples past the end are zeros. With P, Q the power spectra of x and y,
 *   LSD(frame) = log_distance of P and Q over the bins k = 0 .. LSD_N/2,
 *   mel(frame) = log_distance of sum_k weight[b][k] P[k] and the same of Q over the bands b,
 * each the mean over all frames of all channels; keep[i] = sum of Q / sum of P over every frame
 * and channel and the bins k < LSD_N/2 of band i (NAN when P's sum is 0, as for a band at or
 * above the Nyquist frequency). -1 when out of memory. */
static int spectral(const wl_audio *x, const wl_audio *y, cli_audio_quality *q) {
  const long n = x->frames, F = 1 + (n > LSD_N ? (n - LSD_N + LSD_HOP - 1) / LSD_HOP : 0);
  const long total = F * x->channels;
  const float scale = ldexpf(1, 1 - x->depth);
  float w[LSD_N];
  for (int t = 0; t < LSD_N; t++) w[t] = (float)(0.5 - 0.5 * cos(2 * M_PI * t / LSD_N)); /* periodic Hann */
  double (*weight)[LSD_N / 2 + 1] = malloc(sizeof(double) * MEL_BANDS * (LSD_N / 2 + 1));
  float *in0 = malloc(sizeof(float) * LSD_N);
  fftwf_complex *out0 = malloc(sizeof(fftwf_complex) * (LSD_N / 2 + 1));
  /* one plan for every thread: fftwf_execute_dft_r2c is thread-safe, planning is not */
  fftwf_plan plan = in0 && out0 && weight ? fftwf_plan_dft_r2c_1d(LSD_N, in0, out0, FFTW_ESTIMATE | FFTW_UNALIGNED) : NULL;
  free(in0);
  free(out0);
  if (plan) mel_weights(x->rate, weight);
  /* each frame's 8 terms (LSD, mel distance, the 3 bands' P and Q), summed in frame order after:
   * the same digits on any number of threads */
  enum { TERMS = 8 };
  double *term = plan ? malloc(sizeof(double) * TERMS * (size_t)total) : NULL;
  int oom = !plan || !term;
#pragma omp parallel if (term)
  {
    float *in = malloc(sizeof(float) * LSD_N);
    fftwf_complex *out = malloc(sizeof(fftwf_complex) * (LSD_N / 2 + 1));
    double *P = malloc(sizeof(double) * (LSD_N + 2 + 2 * MEL_BANDS)); /* P, Q, then their mel bands */
    if (!in || !out || !P) {
#pragma omp atomic write
      oom = 1;
    }
#pragma omp for schedule(static)
    for (long i = 0; i < total; i++) {
      if (!term || !in || !out || !P) continue;
      const long c = i / F, t0 = i % F * LSD_HOP;
      double *Q = P + LSD_N / 2 + 1, *MP = Q + LSD_N / 2 + 1, *MQ = MP + MEL_BANDS, *t = term + TERMS * i;
      power(plan, w, x->samples + c * n, n, t0, scale, in, out, P);
      power(plan, w, y->samples + c * n, n, t0, scale, in, out, Q);
      t[0] = log_distance(P, Q, LSD_N / 2 + 1);
      for (int b = 0; b < MEL_BANDS; b++) {
        MP[b] = MQ[b] = 0;
        for (int k = 0; k <= LSD_N / 2; k++) MP[b] += weight[b][k] * P[k], MQ[b] += weight[b][k] * Q[k];
      }
      t[1] = log_distance(MP, MQ, MEL_BANDS);
      for (int j = 2; j < TERMS; j++) t[j] = 0;
      for (int k = 0; k < LSD_N / 2; k++) { /* the Nyquist bin left out */
        const double f = (double)k * x->rate / LSD_N;
        const int band = f < band_edges[1] ? 0 : f < band_edges[2] ? 1 : f < band_edges[3] ? 2 : -1;
        if (band >= 0) t[2 + band] += P[k], t[5 + band] += Q[k];
      }
    }
    free(in);
    free(out);
    free(P);
  }
  if (plan) fftwf_destroy_plan(plan);
  free(weight);
  double sum = 0, msum = 0, p0 = 0, p1 = 0, p2 = 0, q0 = 0, q1 = 0, q2 = 0;
  for (long i = 0; term && i < total; i++) {
    const double *t = term + TERMS * i;
    sum += t[0], msum += t[1], p0 += t[2], p1 += t[3], p2 += t[4], q0 += t[5], q1 += t[6], q2 += t[7];
  }
  free(term);
  q->lsd = sum / (double)total;
  q->mel = msum / (double)total;
  q->keep[0] = p0 > 0 ? q0 / p0 : NAN;
  q->keep[1] = p1 > 0 ? q1 / p1 : NAN;
  q->keep[2] = p2 > 0 ? q2 / p2 : NAN;
  return oom ? -1 : 0;
}

/* SNR = 10 log10(sum x^2 / sum (x - y)^2) over all N = C n samples.
 * PSNR (WaLLoC): per channel the original's mean mx is removed from x and y, and both are scaled
 * by g = 0.5 / max over the clip of |x - mx|; PSNR = -10 log10(mean (g (x - y))^2)
 * = 10 log10(N (2 max |x - mx|)^2 / sum (x - y)^2); NAN for a constant original.
 * SI-SDR: the mean over channels of si_sdr(), silent channels left out. LSD, mel distance and
 * energy kept: spectral(). */
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
  return spectral(x, y, q);
}
