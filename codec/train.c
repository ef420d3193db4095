/* train.c: training a neural model (wl_trainer_*, walloc.h) on two CPU cores.
 *
 * One step: B random crops x (C, S, S) in [-1/2, 1/2] (random position, flips, colour and
 * scale jitter) -> wavelet packets X (D, P), P = B (S/2^J)^2 -> encoder y = W_e X + b_e ->
 * u = compand(y) + U(-1/2, 1/2) -> z = uncompand(u), and in example b the channels k >= k_b
 * (k_b uniform in 1..K) replaced by the learned fill values -> decoder (decoder.c) -> X^ ->
 * inverse packets x^ -> loss = -(mean PSNR of the crops) + lambda * bits / pixels (lambda in
 * dB per bit per pixel), where bits is the cost of the kept u under per-channel Laplace densities. Backward runs the same chain in
 * reverse (layers.c, and the adjoint packet transform); AdamW with warm-up and cosine decay.
 * Every random number comes from wl_uniform(seed, counter) with the counter derived from the
 * step, so a resumed run continues exactly as an uninterrupted one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define ADAM_EPS 1e-8
#define LR_FLOOR 0.05 /* the cosine decays the rate to this fraction of lr */
#define PCA_STRIDE 4
#define DB (10.0 / M_LN10) /* dB per natural-log unit of MSE */
#define MSE_FLOOR 1e-10
#define LINEAR_LR 0.01 /* learning-rate fraction for the PCA-initialised linear decoder path */

struct wl_trainer {
  wl_train_params p;
  const wl_image *imgs;
  wl_signal *sig;          /* (n) views of imgs for the PCA fit and the entropy tables */
  int n;
  wl_model *m;
  float *grad, *mom, *var; /* (nparams) each */
  long step;
  int S, s;                /* crop side, latent side */
  wl_grid g;
  long P;
  int *keep;               /* (B) channels kept per example */
  /* activations */
  float *x, *X, *y, *u, *z, *h, *a1, *c1, *a2, *sR, *Xh, *xh;
  /* gradients of activations */
  float *dXh, *dz, *du, *dy, *dh, *da, *dc, *dsR;
  float *scratch;
};

static float *falloc(long n, int *err) {
  float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
  if (!p) *err = WL_ERR_NOMEM;
  return p;
}

void wl_trainer_free(wl_trainer *t) {
  if (!t) return;
  wl_model_free(t->m);
  float *bufs[] = {t->grad, t->mom, t->var, t->x, t->X, t->y, t->u, t->z, t->h, t->a1, t->c1, t->a2, t->sR, t->Xh,
                   t->xh, t->dXh, t->dz, t->du, t->dy, t->dh, t->da, t->dc, t->dsR, t->scratch};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  free(t->keep);
  free(t->sig);
  free(t);
}

/* Uniform [0, 1) number j of example b at the current step. */
static float rnd(const wl_trainer *t, int b, int j) {
  return wl_uniform(t->p.seed, ((uint64_t)t->step << 24) + ((uint64_t)b << 8) + (uint64_t)j);
}

/* He-uniform initial weights for the residual path; its output projection starts at zero so
 * the untrained network is exactly the PCA model. */
static void init_residual(wl_trainer *t) {
  wl_model *m = t->m;
  const int N = m->N, K = m->d.K;
  const long nin = (long)N * K, nconv = 2L * m->R * N * N * 9;
  const float ain = sqrtf(6.0f / (float)K), aconv = sqrtf(6.0f / (9.0f * (float)N));
  for (long i = 0; i < nin; i++) m->res_in_w[i] = ain * (2 * wl_uniform(t->p.seed ^ 1, (uint64_t)i) - 1);
  for (long i = 0; i < nconv; i++) m->res_w[i] = aconv * (2 * wl_uniform(t->p.seed ^ 2, (uint64_t)i) - 1);
  for (int k = 0; k < K; k++) m->rate_scale[k] = 0.0f;
}

static int check_params(const wl_image *imgs, int n, const wl_train_params *p) {
  if (n < 1 || !p || p->channels < 1 || p->channels > WL_MAX_CHANNELS || p->J < 1 || p->J > WL_MAX_J ||
      p->bits < 2 || p->bits > 12 || p->K < 1 || p->K > WL_MAX_K || p->K > p->channels << (2 * p->J) ||
      p->N < 1 || p->N > 512 || p->R < 0 || p->R > 8 || p->batch < 1 || p->batch > 4096 ||
      p->crop < (1 << p->J) || p->crop > 4096 || p->crop % (1 << p->J) || p->steps < 1 || p->warmup < 0 ||
      !(p->lr > 0) || !(p->weight_decay >= 0) || !(p->lambda >= 0) || !(p->jitter >= 0 && p->jitter < 0.5f))
    return WL_ERR_ARG;
  for (int i = 0; i < n; i++) {
    WL_TRY(wl_image_check(&imgs[i]));
    if (imgs[i].channels != p->channels) return WL_ERR_MISMATCH;
  }
  return 0;
}

/* Static tables of the uniform distribution: checkpoints' tables, refitted for the model. */
static int flat_tables(wl_model *m) {
  const size_t S = (size_t)1 << m->d.bits;
  uint32_t *flat = malloc(sizeof(uint32_t) * S);
  int e = flat ? 0 : WL_ERR_NOMEM;
  for (size_t i = 0; flat && i < S; i++) flat[i] = 1;
  for (int k = 0; k < m->d.K && !e; k++)
    if (wle_table_build(flat, m->d.bits, 1, m->freq + (size_t)k * S) < 0) e = WL_ERR_NUMERIC;
  free(flat);
  return e;
}

int wl_trainer_new(wl_trainer **tp, const wl_image *imgs, int n, const wl_train_params *p) {
  *tp = NULL;
  WL_TRY(check_params(imgs, n, p));
  wl_trainer *t = calloc(1, sizeof *t);
  wl_model *m = calloc(1, sizeof *m);
  if (!t || !m) { free(t); free(m); return WL_ERR_NOMEM; }
  t->p = *p;
  t->imgs = imgs;
  t->n = n;
  t->m = m;
  m->d = (wl_model_desc){.channels = p->channels, .J = p->J, .K = p->K, .bits = p->bits};
  snprintf(m->d.name, sizeof m->d.name, "%s", p->name ? p->name : "");
  m->D = p->channels << (2 * p->J);
  m->N = p->N;
  m->R = p->R;
  int e = wl_image_signals(imgs, n, &t->sig);
  if (!e) e = wl_model_alloc(m);
  if (!e) e = wl_linear_fit(m, t->sig, n, p->gain > 0 ? p->gain : 8.0f, PCA_STRIDE);
  if (!e) e = flat_tables(m);
  if (e) { wl_trainer_free(t); return e; }
  init_residual(t);
  const int C = p->channels, K = p->K, D = m->D, N = p->N, R = p->R, B = p->batch;
  t->S = p->crop;
  t->s = p->crop >> p->J;
  t->g = (wl_grid){B, t->s, t->s};
  const long P = t->P = wl_grid_size(t->g), npix = (long)B * C * t->S * t->S, np = m->nparams;
  t->keep = calloc((size_t)B, sizeof(int));
  if (!t->keep) e = WL_ERR_NOMEM;
  t->grad = falloc(np, &e); t->mom = falloc(np, &e); t->var = falloc(np, &e);
  t->x = falloc(npix, &e); t->xh = falloc(npix, &e);
  t->X = falloc(D * P, &e); t->Xh = falloc(D * P, &e); t->dXh = falloc(D * P, &e);
  t->y = falloc(K * P, &e); t->u = falloc(K * P, &e); t->z = falloc(K * P, &e);
  t->dz = falloc(K * P, &e); t->du = falloc(K * P, &e); t->dy = falloc(K * P, &e);
  t->h = falloc((R + 1L) * N * P, &e);
  t->a1 = falloc((long)R * N * P, &e); t->c1 = falloc((long)R * N * P, &e); t->a2 = falloc((long)R * N * P, &e);
  t->sR = falloc(N * P, &e); t->dh = falloc(N * P, &e); t->da = falloc(N * P, &e);
  t->dc = falloc(N * P, &e); t->dsR = falloc(N * P, &e);
  t->scratch = falloc(2 * wl_conv_scratch(N, 3, 3, t->g), &e);
  if (e) { wl_trainer_free(t); return e; }
  *tp = t;
  return 0;
}

long wl_trainer_step_count(const wl_trainer *t) { return t->step; }

/* Crop b of the batch: a random image, position, scale, flips and colour, bilinearly
 * resampled (indices clamped at the borders) into t->x[b] (C, S, S) in [-1/2, 1/2]. */
static void sample(wl_trainer *t, int b) {
  const wl_image *img = &t->imgs[(int)(rnd(t, b, 0) * (float)t->n) % t->n];
  const int C = img->channels, H = img->height, W = img->width, S = t->S;
  const float f = 1.0f + 5.0f * t->p.jitter * rnd(t, b, 1); /* source pixels per crop pixel */
  const float span = f * (float)S;
  const float y0 = rnd(t, b, 2) * fmaxf((float)H - span, 0.0f), x0 = rnd(t, b, 3) * fmaxf((float)W - span, 0.0f);
  const int flip_h = rnd(t, b, 4) < 0.5f, flip_v = rnd(t, b, 5) < 0.5f;
  const float scale = 1.0f / (float)((1 << img->depth) - 1), shift = t->p.jitter * (2 * rnd(t, b, 6) - 1);
  for (int c = 0; c < C; c++) {
    const float gain = 1.0f + t->p.jitter * (2 * rnd(t, b, 8 + c) - 1);
    const float *src = img->planes + (long)c * H * W;
    float *dst = t->x + ((long)b * C + c) * S * S;
    for (int i = 0; i < S; i++) {
      float sy = y0 + ((float)(flip_v ? S - 1 - i : i) + 0.5f) * f - 0.5f;
      int iy = (int)floorf(sy);
      float wy = sy - (float)iy;
      int ya = iy < 0 ? 0 : iy >= H ? H - 1 : iy, yb = iy + 1 >= H ? H - 1 : iy + 1 < 0 ? 0 : iy + 1;
      for (int j = 0; j < S; j++) {
        float sx = x0 + ((float)(flip_h ? S - 1 - j : j) + 0.5f) * f - 0.5f;
        int ix = (int)floorf(sx);
        float wx = sx - (float)ix;
        int xa = ix < 0 ? 0 : ix >= W ? W - 1 : ix, xb = ix + 1 >= W ? W - 1 : ix + 1 < 0 ? 0 : ix + 1;
        float v = (1 - wy) * ((1 - wx) * src[(long)ya * W + xa] + wx * src[(long)ya * W + xb]) +
                  wy * ((1 - wx) * src[(long)yb * W + xa] + wx * src[(long)yb * W + xb]);
        v = gain * (v * scale - 0.5f) + shift;
        dst[(long)i * S + j] = v < -0.5f ? -0.5f : v > 0.5f ? 0.5f : v;
      }
    }
  }
  t->keep[b] = 1 + (int)(rnd(t, b, 7) * (float)t->p.K) % t->p.K;
}

/* Packets of every crop into X (D, P): example b owns positions b*s*s .. (b+1)*s*s - 1. */
static int load_batch(wl_trainer *t) {
  const int B = t->p.batch, C = t->p.channels, S = t->S, D = t->m->D;
  const long ss = (long)t->s * t->s;
  int err = 0;
#pragma omp parallel for schedule(dynamic) reduction(min : err)
  for (int b = 0; b < B; b++) {
    float *Xb = malloc(sizeof(float) * (size_t)D * ss);
    sample(t, b);
    if (!Xb || wl_wpt2_forward(t->x + (long)b * C * S * S, C, S, S, t->p.J, Xb)) err = WL_ERR_NOMEM;
    for (int d = 0; Xb && d < D; d++) memcpy(t->X + d * t->P + b * ss, Xb + d * ss, sizeof(float) * (size_t)ss);
    free(Xb);
  }
  return err;
}

/* Bits of the integer bin of u under a zero-mean Laplace density of scale e^ls, and (when
 * du, dls are given) its derivatives. The bin of a = |u| is [a - 1/2, a + 1/2]. */
static double laplace_bits(float u, float ls, float *du, float *dls) {
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

/* Forward and backward of one batch; fills t->grad and returns the loss terms. */
static int forward_backward(wl_trainer *t, double *psnr_out, double *bpp_out) {
  wl_model *m = t->m;
  const int K = m->d.K, D = m->D, N = m->N, R = m->R, B = t->p.batch, C = t->p.channels, S = t->S, J = t->p.J;
  const long P = t->P, ss = (long)t->s * t->s, NP = (long)N * P;
  const wl_grid g = t->g, one = {1, 1, (int)P};
  const int train_enc = t->p.lambda > 0;
  float *dW = t->grad;
#define GRAD(ptr) (dW + ((ptr) - m->params))
  memset(t->grad, 0, sizeof(float) * (size_t)m->nparams);
  WL_TRY(load_batch(t));
  /* encoder and bottleneck */
  wl_affine(m->enc_w, m->enc_b, t->X, K, D, P, t->y);
  wl_compand_forward(t->u, t->y, (long)K * P, m->d.bits);
  wl_noise_forward(t->u, (long)K * P, t->p.seed ^ ((uint64_t)t->step * 0x9E3779B97F4A7C15ull));
  wl_uncompand_forward(t->z, t->u, (long)K * P, m->d.bits);
  for (int k = 0; k < K; k++)
    for (int b = 0; b < B; b++)
      if (k >= t->keep[b])
        for (long i = 0; i < ss; i++) t->z[k * P + b * ss + i] = m->fill[k];
  /* decoder, keeping activations */
  wl_affine(m->dec_w, m->dec_b, t->z, D, K, P, t->Xh);
  wl_affine(m->res_in_w, m->res_in_b, t->z, N, K, P, t->h);
  for (int r = 0; r < R; r++) {
    const float *W1 = m->res_w + (size_t)2 * r * N * N * 9, *b1 = m->res_b + (size_t)2 * r * N;
    float *hr = t->h + r * NP, *a1 = t->a1 + r * NP, *c1 = t->c1 + r * NP, *a2 = t->a2 + r * NP;
    wl_silu_forward(a1, hr, NP);
    wl_conv_forward(c1, a1, W1, b1, N, N, 3, 3, g, t->scratch);
    wl_silu_forward(a2, c1, NP);
    wl_conv_forward(t->dc, a2, W1 + (size_t)N * N * 9, b1 + N, N, N, 3, 3, g, t->scratch);
    wl_add_forward(hr + NP, hr, t->dc, NP);
  }
  wl_silu_forward(t->sR, t->h + R * NP, NP);
  wl_conv_forward(t->dXh, t->sR, m->res_out_w, NULL, N, D, 1, 1, one, NULL);
  wl_add_forward(t->Xh, t->Xh, t->dXh, (long)D * P);
  /* pixels, loss (minus the mean PSNR of the crops) and its gradient, back to packets through
   * the adjoint inverse transform. Per-crop PSNR weighs every k and every crop alike, where a
   * plain MSE would be dominated by the crops with few channels kept. */
  const long n = (long)C * S * S;
  double sum_db = 0;
  int err = 0;
#pragma omp parallel for schedule(dynamic) reduction(+ : sum_db) reduction(min : err)
  for (int b = 0; b < B; b++) {
    float *Xb = malloc(sizeof(float) * (size_t)D * ss);
    float *xb = t->xh + b * n;
    const float *x = t->x + b * n;
    if (!Xb) { err = WL_ERR_NOMEM; continue; }
    for (int d = 0; d < D; d++) memcpy(Xb + d * ss, t->Xh + d * P + b * ss, sizeof(float) * (size_t)ss);
    if (wl_wpt2_inverse(Xb, C, S, S, J, xb)) err = WL_ERR_NOMEM;
    double se = 0;
    for (long i = 0; i < n; i++) se += (double)(xb[i] - x[i]) * (xb[i] - x[i]);
    const double mse = se / (double)n + MSE_FLOOR, scale = DB / ((double)B * mse) * 2.0 / (double)n;
    sum_db += DB * log(mse);
    for (long i = 0; i < n; i++) xb[i] = (float)(scale * (xb[i] - x[i]));
    if (wl_wpt2_inverse_adjoint(xb, C, S, S, J, Xb)) err = WL_ERR_NOMEM;
    for (int d = 0; d < D; d++) memcpy(t->dXh + d * P + b * ss, Xb + d * ss, sizeof(float) * (size_t)ss);
    free(Xb);
  }
  WL_TRY(err);
  *psnr_out = -sum_db / B;
  /* decoder backward */
  memset(t->dz, 0, sizeof(float) * (size_t)K * P);
  memset(t->dsR, 0, sizeof(float) * (size_t)NP);
  memset(t->dh, 0, sizeof(float) * (size_t)NP);
  wl_conv_backward(t->dz, GRAD(m->dec_w), GRAD(m->dec_b), t->dXh, t->z, m->dec_w, K, D, 1, 1, one, NULL);
  wl_conv_backward(t->dsR, GRAD(m->res_out_w), NULL, t->dXh, t->sR, m->res_out_w, N, D, 1, 1, one, NULL);
  wl_silu_backward(t->dh, t->dsR, t->h + R * NP, NP);
  for (int r = R - 1; r >= 0; r--) {
    const float *W1 = m->res_w + (size_t)2 * r * N * N * 9, *W2 = W1 + (size_t)N * N * 9;
    const float *b1 = m->res_b + (size_t)2 * r * N;
    float *hr = t->h + r * NP, *a1 = t->a1 + r * NP, *c1 = t->c1 + r * NP, *a2 = t->a2 + r * NP;
    memset(t->da, 0, sizeof(float) * (size_t)NP);
    wl_conv_backward(t->da, GRAD(W2), GRAD(b1 + N), t->dh, a2, W2, N, N, 3, 3, g, t->scratch);
    memset(t->dc, 0, sizeof(float) * (size_t)NP);
    wl_silu_backward(t->dc, t->da, c1, NP);
    memset(t->da, 0, sizeof(float) * (size_t)NP);
    wl_conv_backward(t->da, GRAD(W1), GRAD(b1), t->dc, a1, W1, N, N, 3, 3, g, t->scratch);
    wl_silu_backward(t->dh, t->da, hr, NP); /* dh_r = dh_{r+1} + silu'(h_r) da */
  }
  wl_conv_backward(t->dz, GRAD(m->res_in_w), GRAD(m->res_in_b), t->dh, t->z, m->res_in_w, K, N, 1, 1, one, NULL);
  /* masked channels: the gradient goes to the fill values */
  float *dfill = GRAD(m->fill);
  for (int k = 0; k < K; k++)
    for (int b = 0; b < B; b++)
      if (k >= t->keep[b])
        for (long i = 0; i < ss; i++) {
          dfill[k] += t->dz[k * P + b * ss + i];
          t->dz[k * P + b * ss + i] = 0;
        }
  /* rate term over the kept channels, and the encoder */
  double bits = 0;
  float *dls = GRAD(m->rate_scale);
  if (train_enc) {
    memset(t->du, 0, sizeof(float) * (size_t)K * P);
    wl_uncompand_backward(t->du, t->dz, t->u, (long)K * P, m->d.bits);
  }
  const double lam = t->p.lambda / ((double)B * S * S);
  for (int k = 0; k < K; k++) {
    double gls = 0;
    for (int b = 0; b < B; b++) {
      if (k >= t->keep[b]) continue;
      for (long i = 0; i < ss; i++) {
        float gu, gl;
        const long j = k * P + b * ss + i;
        bits += laplace_bits(t->u[j], m->rate_scale[k], &gu, &gl);
        gls += gl;
        if (train_enc) t->du[j] += (float)(lam * gu);
      }
    }
    dls[k] = (float)(gls / ((double)B * S * S)); /* the density fits the rate even when lambda = 0 */
  }
  *bpp_out = bits / ((double)B * S * S);
  if (train_enc) {
    memset(t->dy, 0, sizeof(float) * (size_t)K * P);
    wl_compand_backward(t->dy, t->du, t->y, (long)K * P, m->d.bits);
    wl_conv_backward(NULL, GRAD(m->enc_w), GRAD(m->enc_b), t->dy, t->X, m->enc_w, D, K, 1, 1, one, NULL);
  }
#undef GRAD
  return 0;
}

static double learning_rate(const wl_train_params *p, long step) {
  if (step < p->warmup) return p->lr * (double)(step + 1) / (double)p->warmup;
  double f = (double)(step - p->warmup) / (double)(p->steps > p->warmup ? p->steps - p->warmup : 1);
  if (f > 1) f = 1;
  return p->lr * (LR_FLOOR + (1 - LR_FLOOR) * 0.5 * (1 + cos(M_PI * f)));
}

/* AdamW; weight decay applies to the residual path's weight tensors only. The linear decoder
 * path starts at the PCA solution, with entries around 1/gain: it takes small steps. */
static void adamw(wl_trainer *t) {
  wl_model *m = t->m;
  const double lr = learning_rate(&t->p, t->step);
  const double c1 = 1 - pow(ADAM_B1, (double)(t->step + 1)), c2 = 1 - pow(ADAM_B2, (double)(t->step + 1));
  const long lin0 = m->dec_w - m->params, lin1 = m->fill - m->params, d0 = m->res_in_w - m->params, d1 = m->res_in_b - m->params, d2 = m->res_w - m->params,
             d3 = m->res_b - m->params, d4 = m->res_out_w - m->params, d5 = m->rate_scale - m->params;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < m->nparams; i++) {
    const double g = t->grad[i];
    t->mom[i] = (float)(ADAM_B1 * t->mom[i] + (1 - ADAM_B1) * g);
    t->var[i] = (float)(ADAM_B2 * t->var[i] + (1 - ADAM_B2) * g * g);
    const int decay = (i >= d0 && i < d1) || (i >= d2 && i < d3) || (i >= d4 && i < d5);
    const double rate = i >= lin0 && i < lin1 ? LINEAR_LR * lr : lr;
    double w = m->params[i];
    if (decay) w -= rate * t->p.weight_decay * w;
    m->params[i] = (float)(w - rate * (t->mom[i] / c1) / (sqrt(t->var[i] / c2) + ADAM_EPS));
  }
}

wl_model *wl_trainer_model(wl_trainer *t) { return t->m; }

int wl_trainer_objective(wl_trainer *t, double *psnr, double *bpp, const float **grad) {
  *grad = t->grad;
  return forward_backward(t, psnr, bpp);
}

int wl_trainer_step(wl_trainer *t, double *psnr, double *bpp) {
  WL_TRY(forward_backward(t, psnr, bpp));
  adamw(t);
  t->step++;
  return 0;
}

int wl_trainer_validate(wl_trainer *t, const wl_image *img, int keep, double *mse, double *bpp) {
  wl_image plain = *img, out;
  plain.alpha = NULL;
  const wl_encode_opts o = {.keep = keep};
  uint8_t *buf;
  size_t len;
  WL_TRY(wl_encode(t->m, &plain, &o, &buf, &len));
  int e = wl_decode(t->m, buf, len, &out);
  free(buf);
  if (e) return e;
  const long n = (long)img->channels * img->height * img->width;
  const double scale = 1.0 / ((1 << img->depth) - 1);
  double se = 0;
#pragma omp parallel for reduction(+ : se)
  for (long i = 0; i < n; i++) {
    double d = (out.planes[i] - img->planes[i]) * scale;
    se += d * d;
  }
  wl_image_release(&out);
  *mse = se / (double)n;
  *bpp = 8.0 * (double)len / ((double)img->height * img->width);
  return 0;
}

int wl_trainer_save(wl_trainer *t, int checkpoint, uint8_t **out, size_t *outlen) {
  wl_model *m = t->m;
  const wl_train_params *p = &t->p;
  int e = checkpoint ? flat_tables(m) : wl_model_tables(m, t->sig, t->n);
  if (e) return e;
  char v[10][64];
  snprintf(v[0], 64, "%ld", t->step);
  snprintf(v[1], 64, "%d", t->n);
  snprintf(v[2], 64, "%llu", (unsigned long long)p->seed);
  snprintf(v[3], 64, "%d", p->crop);
  snprintf(v[4], 64, "%d", p->batch);
  snprintf(v[5], 64, "%g", p->lr);
  snprintf(v[6], 64, "%g", p->lambda);
  snprintf(v[7], 64, "%g", p->jitter);
  snprintf(v[8], 64, "%ld", p->steps);
  snprintf(v[9], 64, "%g", p->gain > 0 ? p->gain : 8.0f);
  const char *keys[] = {"train_step", "train_images", "train_seed", "train_crop", "train_batch", "train_lr",
                        "train_lambda", "train_jitter", "train_steps", "gain", "train_command"};
  char *vals[] = {v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7], v[8], v[9], (char *)(p->command ? p->command : "")};
  const char *vname[] = {"adam.m", "adam.v"};
  float *vdata[] = {t->mom, t->var};
  const wl_model_extra x = {.nmeta = 11, .key = keys, .value = vals, .nvec = checkpoint ? 2 : 0, .vname = vname,
                            .vdata = vdata};
  return wl_model_serialize(m, &x, out, outlen);
}

int wl_trainer_resume(wl_trainer *t, const uint8_t *buf, size_t len) {
  char step[WL_META_MAX];
  char *val[] = {step};
  const char *key[] = {"train_step"}, *vname[] = {"adam.m", "adam.v"};
  float *vdata[] = {t->mom, t->var};
  const wl_model_extra x = {.nmeta = 1, .key = key, .value = val, .nvec = 2, .vname = vname, .vdata = vdata};
  const wl_model *m = t->m;
  wl_model *c;
  WL_TRY(wl_model_parse(&c, buf, len, NULL)); /* shapes first: the optimiser state is sized by them */
  int e = c->d.dims != m->d.dims || c->d.channels != m->d.channels || c->d.J != m->d.J || c->d.K != m->d.K || c->d.bits != m->d.bits ||
          c->N != m->N || c->R != m->R ? WL_ERR_MISMATCH : 0;
  wl_model_free(c);
  if (e || (e = wl_model_parse(&c, buf, len, &x))) return e;
  char *end;
  long s = strtol(step, &end, 10);
  if (!*step || *end || s < 0) e = WL_ERR_MODEL;
  else {
    memcpy(m->params, c->params, sizeof(float) * (size_t)m->nparams);
    t->step = s;
  }
  wl_model_free(c);
  return e;
}
