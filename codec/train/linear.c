/* linear.c: the closed-form linear model. The encoder is the PCA/KLT of the wavelet
 * packet coefficient vectors (one D = C*4^J vector per latent position; C*2^J for audio,
 * whose 1-D packets run along time), keeping the K
 * leading eigenvectors V (D, K): y = g V^T (X - mu), X^ = V y / g + mu. The gain g sets the
 * quantiser step (rate); static entropy tables are histograms of the training latents. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cblas.h>
#include "codec/train/train.h"
#include "entropy/entropy.h"

#define DEFAULT_GAIN 4.0f        /* images: the rate/PSNR choice measured in codec/models/README.md */
#define DEFAULT_GAIN_AUDIO 32.0f /* audio: SNR is relative to the signal, not the peak, so finer
                                    steps; larger gains clip loud low bands in 8-bit latents */
#define CHUNK 4096 /* positions converted to double per dsyrk call */

void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w,
            double *work, const int *lwork, int *info);

/* Accumulates sum (D) and the upper triangle of S = sum x x^T (D, D, row-major) over every
 * stride-th position of X (D, P). Returns the number of positions used. */
static long accumulate(const float *X, int D, long P, int stride, double *sum, double *S, double *buf) {
  long used = 0;
  for (long p0 = 0; p0 < P; p0 += (long)CHUNK * stride) {
    int n = 0;
    for (long p = p0; p < P && n < CHUNK; p += stride, n++)
      for (int d = 0; d < D; d++) buf[(long)d * CHUNK + n] = X[(long)d * P + p];
    for (int d = 0; d < D; d++)
      for (int i = 0; i < n; i++) sum[d] += buf[(long)d * CHUNK + i];
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasNoTrans, D, n, 1.0, buf, CHUNK, 1.0, S, D);
    used += n;
  }
  return used;
}

/* Covariance (D, D) of the packets of all signals; mean into mu. */
static int covariance(const wl_signal *s, int n, int J, int stride, double *mu, double *cov) {
  const int D = s[0].channels << (s[0].dims * J);
  double *buf = malloc(sizeof(double) * (size_t)D * CHUNK);
  long count = 0;
  wl_work w = {0};
  if (!buf) return WL_FAIL(WL_ERR_NOMEM);
  for (int i = 0; i < n; i++) {
    float *X;
    int e = wl_packets(&s[i], J, &w, &X);
    if (e) { free(buf); wl_work_free(&w); return e; }
    count += accumulate(X, D, wl_latent_count(&s[i], J), stride, mu, cov, buf);
  }
  free(buf);
  wl_work_free(&w);
  if (count < 2)
    return WL_FAIL_WHY(WL_ERR_NUMERIC, "too little training data: %ld latent position(s) of 2^J = %d samples (at least 2)",
                       count, 1 << J);
  for (int a = 0; a < D; a++) mu[a] /= (double)count;
  for (int a = 0; a < D; a++)
    for (int b = a; b < D; b++)
      cov[(long)b * D + a] = cov[(long)a * D + b] = cov[(long)a * D + b] / (double)count - mu[a] * mu[b];
  return 0;
}

/* Eigenvectors of cov, descending eigenvalue, into V (K, D) (rows), each signed so that its
 * largest-magnitude entry is positive (a deterministic choice). */
static int leading_eigenvectors(double *cov, int D, int K, double *V, double *eig) {
  int info, lwork = -1;
  double q;
  dsyev_("V", "L", &D, cov, &D, eig, &q, &lwork, &info);
  lwork = (int)q;
  double *work = malloc(sizeof(double) * (size_t)lwork);
  if (!work) return WL_FAIL(WL_ERR_NOMEM);
  dsyev_("V", "L", &D, cov, &D, eig, work, &lwork, &info);
  free(work);
  if (info) return WL_FAIL(WL_ERR_NUMERIC);
  for (int k = 0; k < K; k++) {
    const double *v = cov + (long)(D - 1 - k) * D; /* column-major: eigenvector j is row j of cov */
    int arg = 0;
    for (int d = 1; d < D; d++) if (fabs(v[d]) > fabs(v[arg])) arg = d;
    for (int d = 0; d < D; d++) V[(long)k * D + d] = v[arg] < 0 ? -v[d] : v[d];
  }
  return 0;
}

/* Static tables: per-channel histograms of the training latents, normalised. */
int wl_model_tables(wl_model *m, const wl_signal *s, int n) {
  const size_t S = (size_t)1 << m->d.bits;
  uint32_t *hist = calloc(S * (size_t)m->d.K, sizeof(uint32_t));
  if (!hist) return WL_FAIL(WL_ERR_NOMEM);
  int e = 0;
  wl_work w = {0};
  for (int i = 0; i < n && !e; i++) {
    long P = wl_latent_count(&s[i], m->d.J);
    int16_t *q = malloc(sizeof(int16_t) * (size_t)m->d.K * P);
    e = q ? wl_analyse(m, &s[i], m->d.K, q, &w) : WL_FAIL(WL_ERR_NOMEM);
    for (long j = 0; !e && j < m->d.K * P; j++) hist[(size_t)(j / P) * S + (size_t)(q[j] + (int)S / 2)]++;
    free(q);
  }
  wl_work_free(&w);
  for (int k = 0; k < m->d.K && !e; k++)
    if (wle_table_build(hist + (size_t)k * S, m->d.bits, 1, m->freq + (size_t)k * S) < 0) e = WL_FAIL(WL_ERR_NUMERIC);
  free(hist);
  return e;
}

int wl_linear_fit(wl_model *m, const wl_signal *s, int n, float gain, int stride, double *residual) {
  const int D = m->D, K = m->d.K;
  double *mu = calloc((size_t)D, sizeof(double)), *cov = calloc((size_t)D * D, sizeof(double));
  double *V = malloc(sizeof(double) * (size_t)K * D), *eig = malloc(sizeof(double) * (size_t)D);
  int e = mu && cov && V && eig ? 0 : WL_FAIL(WL_ERR_NOMEM);
  if (!e) e = covariance(s, n, m->d.J, stride, mu, cov);
  if (!e) e = leading_eigenvectors(cov, D, K, V, eig);
  for (int k = 0; !e && k < K; k++) {
    double proj = 0;
    for (int d = 0; d < D; d++) {
      double v = V[(long)k * D + d];
      m->enc_w[(long)k * D + d] = (float)(gain * v);
      m->dec_w[(long)d * K + k] = (float)(v / gain);
      proj += v * mu[d];
    }
    m->enc_b[k] = (float)(-gain * proj);
  }
  for (int d = 0; !e && d < D; d++) m->dec_b[d] = (float)mu[d];
  for (int k = 0; !e && residual && k <= K; k++) { /* eig ascending: all but the k largest */
    residual[k] = 0;
    for (int d = 0; d < D - k; d++) residual[k] += eig[d] / D;
  }
  free(mu); free(cov); free(V); free(eig);
  return e;
}

/* More than this share of the first channel's training latents at the ends of the B-bit range
 * means a gain too high for the signals: the companding's flat tails then hold the strongest
 * channel, which decodes as noise (a 16-bit model trained at --gain 1000 decoded saturated
 * areas as mid-grey). */
#define SATURATED 0.01

int wl_check_gain(const wl_model *m, const wl_signal *s, int n, float gain) {
  const int top = (1 << (m->d.bits - 1)) - 1;
  long ends = 0, total = 0;
  wl_work w = {0};
  int e = 0;
  for (int i = 0; i < n && !e; i++) {
    const long P = wl_latent_count(&s[i], m->d.J);
    int16_t *q = malloc(sizeof(int16_t) * (size_t)P);
    e = q ? wl_analyse(m, &s[i], 1, q, &w) : WL_FAIL(WL_ERR_NOMEM);
    for (long j = 0; !e && j < P; j++) ends += q[j] == top || q[j] == -top;
    total += P;
    free(q);
  }
  wl_work_free(&w);
  if (!e && ends > SATURATED * total)
    e = WL_FAIL_WHY(WL_ERR_ARG, "gain %g puts %.1f%% of the first channel's training latents at the ends of the %d-bit "
                    "range, where they decode as noise: lower the gain", gain, 100.0 * ends / total, m->d.bits);
  return e;
}

int wl_check_shape(const wl_signal *s, int n, int channels, int J, int K, int bits, int dims) {
  const int maxJ = dims == 1 ? WL_MAX_J1 : WL_MAX_J;
  WL_NEED(channels >= 1 && channels <= WL_MAX_CHANNELS, "channels %d: 1 to %d", channels, WL_MAX_CHANNELS);
  WL_NEED(J >= 1 && J <= maxJ, "J %d: 1 to %d", J, maxJ);
  WL_NEED(bits >= 2 && bits <= 12, "bits %d: 2 to 12", bits);
  WL_NEED(K >= 1 && K <= WL_MAX_K && K <= channels << (dims * J), "K %d: 1 to %d (channels x %d^J, at most %d)", K,
       channels << (dims * J) < WL_MAX_K ? channels << (dims * J) : WL_MAX_K, dims == 1 ? 2 : 4, WL_MAX_K);
  for (int i = 0; i < n; i++)
    if (s[i].channels != channels)
      return WL_FAIL_WHY(WL_ERR_MISMATCH, "input %d has %d channels, the model %d", i + 1, s[i].channels, channels);
  return 0;
}

float wl_default_gain(int dims) { return dims == 1 ? DEFAULT_GAIN_AUDIO : DEFAULT_GAIN; }

/* The linear model of dims (2: images, 1: audio) on the checked signals s. */
static int train_linear(const wl_signal *s, int n, int dims, const wl_linear_params *p, uint8_t **out,
                        size_t *outlen) {
  if (!p) return WL_FAIL(WL_ERR_ARG);
  WL_NEED_RESERVED(p->reserved);
  if (p->stride < 0 || !(p->gain >= 0))
    return WL_FAIL_WHY(WL_ERR_ARG, "stride %d (0 or 1: every position), gain %g (0: the default)", p->stride, p->gain);
  WL_TRY(wl_check_shape(s, n, p->channels, p->J, p->K, p->bits, dims));
  wl_model *m = calloc(1, sizeof *m);
  if (!m) return WL_FAIL(WL_ERR_NOMEM);
  m->d = (wl_model_desc){.channels = p->channels, .J = p->J, .K = p->K, .bits = p->bits, .dims = dims};
  snprintf(m->d.name, sizeof m->d.name, "%s", p->name ? p->name : "");
  m->D = p->channels << (dims * p->J);
  const float gain = p->gain > 0 ? p->gain : wl_default_gain(dims);
  int e = wl_model_alloc(m);
  if (!e) e = wl_linear_fit(m, s, n, gain, p->stride > 0 ? p->stride : 1, NULL);
  if (!e) e = wl_check_gain(m, s, n, gain);
  if (!e) e = wl_model_tables(m, s, n);
  if (!e) {
    char g[32], count[32];
    snprintf(g, sizeof g, "%g", gain);
    snprintf(count, sizeof count, "%d", n);
    const char *keys[] = {"gain", dims == 1 ? "train_clips" : "train_images", "train_command"};
    char *vals[] = {g, count, (char *)(p->command ? p->command : "")};
    const wl_model_extra x = {.nmeta = 3, .key = keys, .value = vals};
    e = wl_model_serialize(m, &x, out, outlen);
  }
  wl_model_free(m);
  return e;
}

int wl_train_linear(const wl_image *imgs, int n, const wl_linear_params *p, uint8_t **out, size_t *outlen) {
  wl_signal *s;
  if (!out || !outlen) return WL_FAIL_NULL();
  *out = NULL;
  WL_TRY(wl_image_signals(imgs, n, &s));
  int e = train_linear(s, n, 2, p, out, outlen);
  free(s);
  return e;
}

int wl_train_linear_audio(const wl_audio *clips, int n, const wl_linear_params *p, uint8_t **out,
                          size_t *outlen) {
  wl_signal *s;
  if (!out || !outlen) return WL_FAIL_NULL();
  *out = NULL;
  WL_TRY(wl_audio_signals(clips, n, &s));
  int e = train_linear(s, n, 1, p, out, outlen);
  free(s);
  return e;
}
