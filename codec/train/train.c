/* train.c: training a neural model (wl_trainer_*, walloc_train.h) on two CPU cores, for images
 * (dims 2) and 1-D signals such as audio (dims 1) by one code path over wl_signal views.
 *
 * One step: B random examples x in [-1/2, 1/2]: crops (C, S, S) of images (random position,
 * flips, colour and scale jitter) or segments (C, 1, S) of clips (random position, gain, stereo
 * channel swap) -> wavelet packets X (D, P) (2-D or 1-D), P = B (S/2^J)^2 or B S/2^J ->
 * encoder y = W_e X + b_e -> u = compand(y) + U(-1/2, 1/2) (for the rate term) and z = the
 * dequantised round(compand(y)) as decoding computes it (or uncompand(u): WL_QUANT_NOISE), in example b
 * the channels k >= k_b (k_b = K with probability p.full, else uniform in 1..K) replaced by the learned fill values -> decoder
 * (decoder.c; kh x kw residual convolutions: 3x3, or 1x3 along time) -> X^ -> inverse packets
 * x^ -> (1-D, taps > 0) FIR post-filter, circular over the segment as over a decoded block
 * (postfilter.c) -> loss = -(mean PSNR of the examples) + lambda * bits / positions (lambda in dB per bit
 * per pixel, or per frame in 1-D), where bits is the cost of the kept u under per-channel
 * Laplace densities. Backward runs the same chain in reverse (layers.c, and the adjoint packet
 * transform); AdamW with warm-up and cosine decay. Every random number comes from
 * wl_uniform(seed, counter) with the counter derived from the step, so a resumed run continues
 * exactly as an uninterrupted one. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "codec/train/train.h"
#include "codec/layers.h"
#include "codec/postfilter.h"
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
#define MAX_CROP2 4096   /* crop side in pixels (images) */
#define MAX_CROP1 (1 << 20) /* segment length in samples (1-D) */
#define MAX_BATCH_SAMPLES (1L << 28) /* B * C * crop^dims: 1 GiB per float buffer */
#define GAIN_DB_LO (-12.0) /* 1-D gain augmentation: log-uniform in this range of dB ... */
#define GAIN_DB_HI 6.0     /* ... then limited to the segment's headroom: nothing clips */

struct wl_trainer {
  wl_train_params p;
  wl_signal *sig;          /* (n) views of the caller's images or clips (which outlive it) */
  long *starts;            /* 1-D: (n + 1) cumulative counts of segment start positions */
  int n, dims;
  wl_model *m;
  float *grad, *mom, *var; /* (nparams) each */
  long step;
  int Sh, Sw;              /* example extent: crop x crop pixels, or 1 x crop samples (1-D) */
  wl_grid g;               /* latent grid (B, Sh >> J, Sw >> J), or (B, 1, crop >> J) */
  long P, ss;              /* positions: of the batch, of one example */
  int *keep;               /* (B) channels kept per example */
  double *kerr;            /* (K + 1) expected MSE per sample keeping k channels (WL_LOSS_MSE) */
  /* activations; net: the decoder's, laid out in acts */
  float *x, *X, *y, *u, *z, *net, *Xh, *xh;
  wl_decoder_acts acts;
  int lv;                  /* packet levels of the decoder's output (wl_decoder_levels) */
  /* gradients of activations; dnet: wl_decoder_backward's tmp */
  float *dXh, *dz, *du, *dy, *dnet;
  float *Xe;               /* (B, D, ss) each example's packets, for the per-example transforms */
  /* post-filter (m->F taps): plans over a segment, the taps' spectra G (C, bins), and per
   * example: spectra V (C, bins) of the unfiltered channels, scratch T, U (bins), work (S),
   * and tap gradients (C, F), summed in example order so that any thread count agrees */
  wl_fir_plan fir;
  fftwf_complex *G, *V, *T, *U;
  float *fwork, *dpost;
};

static float *falloc(long n, int *err) {
  float *p = calloc((size_t)(n > 0 ? n : 1), sizeof(float));
  if (!p) *err = WL_FAIL(WL_ERR_NOMEM);
  return p;
}

void wl_trainer_free(wl_trainer *t) {
  if (!t) return;
  wl_model_free(t->m);
  float *bufs[] = {t->grad, t->mom, t->var, t->x, t->X, t->y, t->u, t->z, t->net, t->Xh, t->xh, t->dXh, t->dz, t->du, t->dy,
                   t->dnet, t->Xe};
  for (size_t i = 0; i < sizeof bufs / sizeof *bufs; i++) free(bufs[i]);
  wl_fir_plan_free(&t->fir);
  fftwf_free(t->G); fftwf_free(t->V); fftwf_free(t->T); fftwf_free(t->U);
  free(t->fwork); free(t->dpost);
  free(t->keep);
  free(t->kerr);
  free(t->starts);
  free(t->sig);
  free(t);
}

/* Uniform [0, 1) number j of example b at the current step. */
static float rnd(const wl_trainer *t, int b, int j) {
  return wl_uniform(t->p.seed, ((uint64_t)t->step << 24) + ((uint64_t)b << 8) + (uint64_t)j);
}

/* Uniform [0, 1) with 48 bits, from numbers j and j + 1: positions in long recordings. */
static double rnd48(const wl_trainer *t, int b, int j) {
  return (double)rnd(t, b, j) + (double)rnd(t, b, j + 1) * 0x1p-24;
}

/* He-uniform weights for a residual net's input (Ci -> N) and its R blocks of N x N x taps
 * convolutions, from random streams s and s2. */
static void init_resnet(uint64_t s, uint64_t s2, float *in_w, float *w, int Ci, int N, int R, int taps) {
  const long nin = (long)N * Ci, nconv = 2L * R * N * N * taps;
  const float ain = sqrtf(6.0f / (float)Ci), aconv = sqrtf(6.0f / ((float)taps * (float)N));
  for (long i = 0; i < nin; i++) in_w[i] = ain * (2 * wl_uniform(s, (uint64_t)i) - 1);
  for (long i = 0; i < nconv; i++) w[i] = aconv * (2 * wl_uniform(s2, (uint64_t)i) - 1);
}

/* Initial weights of the residual path and the fine stage; their output projections start at
 * zero so the untrained network is exactly the PCA model. */
static void init_residual(wl_trainer *t) {
  wl_model *m = t->m;
  const int K = m->d.K;
  init_resnet(t->p.seed ^ 1, t->p.seed ^ 2, m->res_in_w, m->res_w, K, m->N, m->R, m->kh * m->kw);
  if (m->Nf) init_resnet(t->p.seed ^ 3, t->p.seed ^ 4, m->fine_in_w, m->fine_w, m->D / 4, m->Nf, m->Rf, 9);
  for (int k = 0; k < K; k++) m->rate_scale[k] = 0.0f;
  for (int c = 0; c < m->F * m->d.channels; c++) m->post[c] = c % m->F == m->F / 2; /* identity */
}

/* Parameters for n checked views s of dims 1 or 2: the first one out of range is named in
 * wl_error_detail(), with its range. */
static int check_params(const wl_signal *s, int n, int dims, const wl_train_params *p) {
  if (!p) return WL_FAIL(WL_ERR_ARG);
  WL_NEED_RESERVED(p->reserved);
  WL_TRY(wl_check_shape(s, n, p->channels, p->J, p->K, p->bits, dims));
  const int unit = 1 << p->J, most = dims == 1 ? MAX_CROP1 : MAX_CROP2;
  WL_NEED(p->N >= 1 && p->N <= 512, "width N %d: 1 to 512", p->N);
  WL_NEED(p->R >= 0 && p->R <= 8, "residual blocks R %d: 0 to 8", p->R);
  WL_NEED(p->fine_N >= 0 && p->fine_N <= 512, "fine stage width %d: 0 to 512", p->fine_N);
  WL_NEED(p->fine_R >= 0 && p->fine_R <= 8, "fine stage blocks %d: 0 to 8", p->fine_R);
  WL_NEED(!p->fine_N || (dims == 2 && p->J >= 2), "a fine stage needs images and J >= 2");
  WL_NEED(p->batch >= 1 && p->batch <= 4096, "batch %d: 1 to 4096", p->batch);
  WL_NEED(p->crop >= unit && p->crop <= most && p->crop % unit == 0, "crop %d%s: a multiple of 2^J = %d, at most %d",
          p->crop, dims == 1 ? " (segment frames)" : "", unit, most);
  WL_NEED((long)p->batch * p->channels * p->crop * (dims == 1 ? 1 : p->crop) <= MAX_BATCH_SAMPLES,
       "batch x channels x crop%s: at most %ld samples a step", dims == 1 ? "" : "^2", (long)MAX_BATCH_SAMPLES);
  WL_NEED(p->steps >= 1, "steps %ld: at least 1", p->steps);
  WL_NEED(p->warmup >= 0, "warm-up %d: not negative", p->warmup);
  WL_NEED(p->loss == WL_LOSS_PSNR || p->loss == WL_LOSS_MSE, "loss %d: WL_LOSS_PSNR or WL_LOSS_MSE", p->loss);
  WL_NEED(p->quant == WL_QUANT_ROUND || p->quant == WL_QUANT_NOISE, "quant %d: WL_QUANT_ROUND or WL_QUANT_NOISE", p->quant);
  WL_NEED(p->lr > 0, "learning rate %g: positive", p->lr);
  WL_NEED(p->weight_decay >= 0, "weight decay %g: not negative", p->weight_decay);
  WL_NEED(p->lambda >= 0, "lambda %g: not negative", p->lambda);
  WL_NEED(p->jitter >= 0 && p->jitter < 0.5f, "jitter %g: 0 to below 0.5", p->jitter);
  WL_NEED(p->full >= 0 && p->full < 1, "full %g: 0 to below 1", p->full);
  WL_NEED(p->taps >= 0 && p->taps <= WL_MAX_TAPS, "taps %d: 0 to %d", p->taps, WL_MAX_TAPS);
  WL_NEED(!p->taps || (dims == 1 && p->taps & 1), "taps %d: an odd number, for audio only", p->taps);
  return 0;
}

/* Static tables of the uniform distribution: checkpoints' tables, refitted for the model. */
static int flat_tables(wl_model *m) {
  const size_t S = (size_t)1 << m->d.bits;
  uint32_t *flat = malloc(sizeof(uint32_t) * S);
  int e = flat ? 0 : WL_FAIL(WL_ERR_NOMEM);
  for (size_t i = 0; flat && i < S; i++) flat[i] = 1;
  for (int k = 0; k < m->d.K && !e; k++)
    if (wle_table_build(flat, m->d.bits, 1, m->freq + (size_t)k * S) < 0) e = WL_FAIL(WL_ERR_NUMERIC);
  free(flat);
  return e;
}

/* Plans and buffers of the post-filter (postfilter.h) for segments of t->Sw samples. */
static int postfilter_buffers(wl_trainer *t) {
  WL_TRY(wl_fir_plan_init(&t->fir, t->Sw));
  const size_t C = (size_t)t->p.channels, B = (size_t)t->p.batch, bins = (size_t)wl_fir_bins(&t->fir);
  t->G = fftwf_malloc(sizeof(fftwf_complex) * C * bins);
  t->V = fftwf_malloc(sizeof(fftwf_complex) * B * C * bins);
  t->T = fftwf_malloc(sizeof(fftwf_complex) * B * bins);
  t->U = fftwf_malloc(sizeof(fftwf_complex) * B * bins);
  t->fwork = malloc(sizeof(float) * B * (size_t)t->Sw);
  t->dpost = malloc(sizeof(float) * B * C * (size_t)t->m->F);
  return t->G && t->V && t->T && t->U && t->fwork && t->dpost ? 0 : WL_FAIL(WL_ERR_NOMEM);
}

/* The trainer on n checked views sig of dims 1 or 2 (it takes sig, and frees it on failure). */
static int trainer_new(wl_trainer **tp, wl_signal *sig, int n, int dims, const wl_train_params *p) {
  int e = check_params(sig, n, dims, p);
  wl_trainer *t = e ? NULL : calloc(1, sizeof *t);
  wl_model *m = t ? calloc(1, sizeof *m) : NULL;
  if (!e && !m) e = WL_FAIL(WL_ERR_NOMEM);
  if (e) { free(sig); free(t); return e; }
  t->p = *p;
  t->sig = sig;
  t->n = n;
  t->dims = dims;
  t->m = m;
  m->d = (wl_model_desc){.channels = p->channels, .J = p->J, .K = p->K, .bits = p->bits, .dims = dims};
  snprintf(m->d.name, sizeof m->d.name, "%s", p->name ? p->name : "");
  m->D = p->channels << (dims * p->J);
  m->N = p->N;
  m->R = p->R;
  m->F = p->taps;
  m->Nf = p->fine_N;
  m->Rf = m->Nf ? p->fine_R : 0;
  e = wl_model_alloc(m); /* sets the kernel: kh x kw = 3x3, or 1x3 in 1-D */
  const float gain = p->gain > 0 ? p->gain : wl_default_gain(dims);
  if (!(t->kerr = malloc(sizeof(double) * ((size_t)p->K + 1)))) e = WL_FAIL(WL_ERR_NOMEM);
  if (!e) e = wl_linear_fit(m, sig, n, gain, PCA_STRIDE, t->kerr);
  if (!e) e = wl_check_gain(m, sig, n, gain);
  for (int k = 0; !e && k <= p->K; k++) /* plus rounding: a unit step in y is 1 / gain in X */
    t->kerr[k] = fmax(t->kerr[k] + k / (12.0 * gain * gain * m->D), 1e-12);
  if (!e) e = flat_tables(m);
  if (e) { wl_trainer_free(t); return e; }
  init_residual(t);
  const int C = p->channels, K = p->K, D = m->D, B = p->batch, J = p->J;
  t->Sh = dims == 1 ? 1 : p->crop;
  t->Sw = p->crop;
  t->g = (wl_grid){B, dims == 1 ? 1 : p->crop >> J, p->crop >> J};
  t->P = wl_grid_size(t->g);
  t->ss = t->P / B;
  const long P = t->P, npix = (long)B * C * t->Sh * t->Sw, np = m->nparams;
  if (dims == 1 && (t->starts = calloc((size_t)n + 1, sizeof(long)))) /* segments of a clip: T - crop + 1, or 1 */
    for (int i = 0; i < n; i++) t->starts[i + 1] = t->starts[i] + (sig[i].width > p->crop ? sig[i].width - p->crop + 1 : 1);
  t->keep = calloc((size_t)B, sizeof(int));
  if (!t->keep || (dims == 1 && !t->starts)) e = WL_FAIL(WL_ERR_NOMEM);
  t->grad = falloc(np, &e); t->mom = falloc(np, &e); t->var = falloc(np, &e);
  t->x = falloc(npix, &e); t->xh = falloc(npix, &e);
  t->X = falloc(D * P, &e); t->Xh = falloc(D * P, &e); t->dXh = falloc(D * P, &e);
  t->y = falloc(K * P, &e); t->u = falloc(K * P, &e); t->z = falloc(K * P, &e);
  t->dz = falloc(K * P, &e); t->du = falloc(K * P, &e); t->dy = falloc(K * P, &e);
  t->net = falloc((long)wl_decoder_acts_floats(m, t->g, 1), &e);
  t->dnet = falloc((long)wl_decoder_backward_floats(m, t->g), &e);
  if (t->net) wl_decoder_acts_layout(m, t->g, 1, t->net, &t->acts);
  t->lv = wl_decoder_levels(m);
  t->Xe = falloc((long)D * P, &e);
  if (!e && m->F) e = postfilter_buffers(t);
  if (e) { wl_trainer_free(t); return e; }
  *tp = t;
  return 0;
}

int wl_trainer_new(wl_trainer **tp, const wl_image *imgs, int n, const wl_train_params *p) {
  wl_signal *s;
  if (!tp) return WL_FAIL_NULL();
  *tp = NULL;
  WL_TRY(wl_image_signals(imgs, n, &s));
  return trainer_new(tp, s, n, 2, p);
}

int wl_trainer_new_audio(wl_trainer **tp, const wl_audio *clips, int n, const wl_train_params *p) {
  wl_signal *s;
  if (!tp) return WL_FAIL_NULL();
  *tp = NULL;
  WL_TRY(wl_audio_signals(clips, n, &s));
  return trainer_new(tp, s, n, 1, p);
}

long wl_trainer_step_count(const wl_trainer *t) { return t ? t->step : -1; }

/* Crop b of the batch: a random image, position, scale, flips and colour, bilinearly
 * resampled (indices clamped at the borders) into t->x[b] (C, S, S) in [-1/2, 1/2]. */
static void sample_crop(wl_trainer *t, int b) {
  const wl_signal *img = &t->sig[(int)(rnd(t, b, 0) * (float)t->n) % t->n];
  const int C = img->channels, H = img->height, W = img->width, S = t->Sw;
  const float f = 1.0f + 5.0f * t->p.jitter * rnd(t, b, 1); /* source pixels per crop pixel */
  const float span = f * (float)S;
  const float y0 = rnd(t, b, 2) * fmaxf((float)H - span, 0.0f), x0 = rnd(t, b, 3) * fmaxf((float)W - span, 0.0f);
  const int flip_h = rnd(t, b, 4) < 0.5f, flip_v = rnd(t, b, 5) < 0.5f;
  const float scale = wl_sample_scale(img), shift = t->p.jitter * (2 * rnd(t, b, 6) - 1);
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
}

/* Segment b of the batch (1-D): uniformly one of all the clips' windows of S samples (a clip
 * shorter than S is one window, extended by symmetric reflection), the two channels of a
 * stereo clip swapped with probability 1/2, and (jitter > 0) a gain log-uniform in
 * GAIN_DB_LO .. GAIN_DB_HI dB but at most the window's headroom, so that nothing clips; into
 * t->x[b] (C, 1, S). No time reversal: audio is not symmetric in time. */
static void sample_segment(wl_trainer *t, int b) {
  const long total = t->starts[t->n];
  long k = (long)(rnd48(t, b, 0) * (double)total);
  int lo = 0, hi = t->n - 1;
  if (k >= total) k = total - 1;
  while (lo < hi) { /* the clip i with starts[i] <= k < starts[i + 1] */
    const int mid = (lo + hi + 1) / 2;
    if (t->starts[mid] <= k) lo = mid;
    else hi = mid - 1;
  }
  const wl_signal *clip = &t->sig[lo];
  const long T = clip->width, t0 = k - t->starts[lo];
  const int C = clip->channels, S = t->Sw, swap = C == 2 && rnd(t, b, 2) < 0.5f;
  float peak = 0;
  for (int c = 0; c < C; c++)
    for (int i = 0; i < S; i++) peak = fmaxf(peak, fabsf(clip->planes[c * T + wl_mirror(t0 + i, T)]));
  float gain = wl_sample_scale(clip);
  if (t->p.jitter > 0) {
    const double db = GAIN_DB_LO + (GAIN_DB_HI - GAIN_DB_LO) * rnd(t, b, 3);
    gain *= (float)fmin(pow(10.0, db / 20), 0.5 / fmax((double)(peak * gain), 1e-30));
  }
  for (int c = 0; c < C; c++) {
    const float *src = clip->planes + c * T;
    float *dst = t->x + ((long)b * C + (swap ? 1 - c : c)) * S;
    for (int i = 0; i < S; i++) dst[i] = gain * src[wl_mirror(t0 + i, T)];
  }
}

/* The packet transform of the trainer's dims on one example: x (C, Sh, Sw) -> X (D, ss) of J
 * levels (FORWARD), or between x and the decoder's output of t->lv levels: X -> x (INVERSE), or
 * x -> X by the inverse's adjoint (INVERSE_ADJOINT). */
enum { FORWARD, INVERSE, INVERSE_ADJOINT };
static int packets(const wl_trainer *t, int op, const float *in, float *out) {
  const int C = t->p.channels, H = t->Sh, W = t->Sw, J = op == FORWARD ? t->p.J : t->lv;
  if (t->dims == 1)
    return op == FORWARD ? wl_wpt1_forward(in, C, W, J, out)
         : op == INVERSE ? wl_wpt1_inverse(in, C, W, J, out) : wl_wpt1_inverse_adjoint(in, C, W, J, out);
  return op == FORWARD ? wl_wpt2_forward(in, C, H, W, J, out)
       : op == INVERSE ? wl_wpt2_inverse(in, C, H, W, J, out) : wl_wpt2_inverse_adjoint(in, C, H, W, J, out);
}

/* Example b's columns b*ss .. (b+1)*ss - 1 of A (D, P) to blk (D, ss) (or back: to_A); with
 * `fine`, of the fine stage's A (D/4, 4P) to blk (D/4, 4ss). */
static void columns(float *A, float *blk, const wl_trainer *t, int b, int to_A, int fine) {
  const long ss = t->ss << 2 * fine, P = t->P << 2 * fine;
  const int rows = t->m->D >> 2 * fine;
  if (to_A) wl_copy_rows(A + b * ss, P, blk, ss, rows, ss);
  else wl_copy_rows(blk, ss, A + b * ss, P, rows, ss);
}

/* The k_b of example b: K with probability p.full, else uniform in 1..K (one random number,
 * so that full = 0 draws what the uniform rule alone drew). */
static int channels_kept(const wl_trainer *t, int b) {
  const int K = t->p.K;
  const float u = rnd(t, b, 7), full = t->p.full;
  if (u < full) return K;
  return 1 + (int)((u - full) / (1 - full) * (float)K) % K;
}

/* Packets of every example into X (D, P): example b owns positions b*ss .. (b+1)*ss - 1. */
static int load_batch(wl_trainer *t) {
  const int B = t->p.batch;
  const long n = (long)t->p.channels * t->Sh * t->Sw;
  wl_first err = WL_FIRST;
#pragma omp parallel for schedule(dynamic)
  for (int b = 0; b < B; b++) {
    float *Xb = t->Xe + b * t->m->D * t->ss;
    if (t->dims == 1) sample_segment(t, b);
    else sample_crop(t, b);
    t->keep[b] = channels_kept(t, b);
    const int e = packets(t, FORWARD, t->x + b * n, Xb);
    wl_first_note(&err, b, e);
    if (!e) columns(t->X, Xb, t, b, 1, 0);
  }
  return err.err;
}

/* Forward and backward of one batch; fills t->grad and returns the loss terms: the mean PSNR,
 * the distortion term the gradient is of (minus that PSNR, or WL_LOSS_MSE's), and bpp. */
static int forward_backward(wl_trainer *t, double *psnr_out, double *dist_out, double *bpp_out) {
  wl_model *m = t->m;
  const int K = m->d.K, D = m->D, B = t->p.batch;
  const long P = t->P, ss = t->ss;
  const double npos = (double)B * t->Sh * t->Sw; /* pixels, or frames in 1-D */
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
  if (t->p.quant == WL_QUANT_NOISE) {
    wl_uncompand_forward(t->z, t->u, (long)K * P, m->d.bits);
  } else { /* what the decoder will see: rounded, then the tabulated inverse companding */
    const int half = 1 << (m->d.bits - 1);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)K * P; i++) t->z[i] = m->dequant[wl_quantise(m, t->y[i]) + half];
  }
  for (int k = 0; k < K; k++)
    for (int b = 0; b < B; b++)
      if (k >= t->keep[b])
        for (long i = 0; i < ss; i++) t->z[k * P + b * ss + i] = m->fill[k];
  /* decoder, keeping activations */
  WL_TRY(wl_decoder_run(m, t->z, g, t->Xh, &t->acts));
  /* samples, loss and its gradient, back to packets through the adjoint inverse transform.
   * WL_LOSS_PSNR, minus the mean PSNR of the examples, weighs every k and every example alike,
   * where a plain MSE would be dominated by the examples with few channels kept; for audio its
   * gradient is that of minus the mean SNR, so a quiet segment counts as much as a loud one.
   * WL_LOSS_MSE divides each example's MSE by the PCA's expected MSE at its k instead (kerr):
   * every k still counts alike, but within a k loud segments count by their larger errors,
   * as in a whole-file SNR; its gradient equals PSNR's where an example's MSE is kerr. */
  const long n = (long)t->p.channels * t->Sh * t->Sw, S = t->Sw, bins = m->F ? wl_fir_bins(&t->fir) : 0;
  const int F = m->F;
  for (int c = 0; c < t->p.channels && F; c++) wl_fir_spectrum(&t->fir, m->post + c * F, F, t->fwork, t->G + c * bins);
  double sum_db = 0, sum_dist = 0;
  wl_first err = WL_FIRST;
#pragma omp parallel for schedule(dynamic) reduction(+ : sum_db, sum_dist)
  for (int b = 0; b < B; b++) {
    float *Xb = t->Xe + b * D * ss, *xb = t->xh + b * n, *dpost = F ? t->dpost + (long)b * t->p.channels * F : NULL;
    const float *x = t->x + b * n;
    fftwf_complex *Vb = t->V + b * t->p.channels * bins, *Tb = t->T + b * bins, *Ub = t->U + b * bins;
    columns(t->Xh, Xb, t, b, 0, t->lv < t->p.J);
    wl_first_note(&err, b, packets(t, INVERSE, Xb, xb));
    for (int c = 0; c < t->p.channels && F; c++)
      wl_fir_forward(&t->fir, t->G + c * bins, xb + c * S, xb + c * S, Vb + c * bins, Tb);
    double se = 0;
    for (long i = 0; i < n; i++) se += (double)(xb[i] - x[i]) * (xb[i] - x[i]);
    const double mse = se / (double)n + MSE_FLOOR, ref = t->p.loss == WL_LOSS_MSE ? t->kerr[t->keep[b]] : mse;
    const double scale = DB / ((double)B * ref) * 2.0 / (double)n;
    sum_db += DB * log(mse);
    sum_dist += t->p.loss == WL_LOSS_MSE ? DB * mse / ref : DB * log(mse);
    for (long i = 0; i < n; i++) xb[i] = (float)(scale * (xb[i] - x[i]));
    if (F) memset(dpost, 0, sizeof(float) * (size_t)t->p.channels * F);
    for (int c = 0; c < t->p.channels && F; c++)
      wl_fir_backward(&t->fir, t->G + c * bins, Vb + c * bins, xb + c * S, F, dpost + c * F, t->fwork + b * S, Tb, Ub);
    wl_first_note(&err, b, packets(t, INVERSE_ADJOINT, xb, Xb));
    columns(t->dXh, Xb, t, b, 1, t->lv < t->p.J);
  }
  WL_TRY(err.err);
  *psnr_out = -sum_db / B;
  *dist_out = (t->p.loss == WL_LOSS_MSE ? sum_dist : sum_db) / B; /* sum_db: minus the summed PSNR */
  for (int b = 0; b < B && F; b++)
    for (long i = 0; i < (long)t->p.channels * F; i++) GRAD(m->post)[i] += t->dpost[b * t->p.channels * F + i];
  memset(t->dz, 0, sizeof(float) * (size_t)K * P);
  WL_TRY(wl_decoder_backward(m, t->z, g, t->dXh, &t->acts, t->dz, t->grad, t->dnet));
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
    wl_uncompand_backward(t->du, t->dz, t->u, (long)K * P, m->d.bits); /* rounded z: straight through */
  }
  const double lam = t->p.lambda / npos;
  for (int k = 0; k < K; k++) {
    double gls = 0;
    for (int b = 0; b < B; b++) {
      if (k >= t->keep[b]) continue;
      for (long i = 0; i < ss; i++) {
        float gu, gl;
        const long j = k * P + b * ss + i;
        bits += wl_laplace_bits(t->u[j], m->rate_scale[k], &gu, &gl);
        gls += gl;
        if (train_enc) t->du[j] += (float)(lam * gu);
      }
    }
    dls[k] = (float)(gls / npos); /* the density fits the rate even when lambda = 0 */
  }
  *bpp_out = bits / npos;
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
  const long lin0 = m->dec_w - m->params, lin1 = m->fill - m->params;
  /* [lo, hi) ranges of the weight tensors: the residual path's and the fine stage's */
  const float *w[][2] = {{m->res_in_w, m->res_in_b}, {m->res_w, m->res_b}, {m->res_out_w, m->rate_scale},
                         {m->fine_in_w, m->fine_in_b}, {m->fine_w, m->fine_b}, {m->fine_out_w, m->fine_out_w + m->D / 4 * m->Nf}};
  long lo[6], hi[6];
  for (int i = 0; i < 6; i++) lo[i] = w[i][0] ? w[i][0] - m->params : 0, hi[i] = w[i][0] ? w[i][1] - m->params : 0;
#pragma omp parallel for schedule(static)
  for (long i = 0; i < m->nparams; i++) {
    const double g = t->grad[i];
    t->mom[i] = (float)(ADAM_B1 * t->mom[i] + (1 - ADAM_B1) * g);
    t->var[i] = (float)(ADAM_B2 * t->var[i] + (1 - ADAM_B2) * g * g);
    int decay = 0;
    for (int r = 0; r < 6; r++) decay |= i >= lo[r] && i < hi[r];
    const double rate = i >= lin0 && i < lin1 ? LINEAR_LR * lr : lr;
    double w = m->params[i];
    if (decay) w -= rate * t->p.weight_decay * w;
    m->params[i] = (float)(w - rate * (t->mom[i] / c1) / (sqrt(t->var[i] / c2) + ADAM_EPS));
  }
}

wl_model *wl_trainer_model(wl_trainer *t) { return t->m; }

int wl_trainer_objective(wl_trainer *t, double *dist, double *bpp, const float **grad) {
  double psnr;
  *grad = t->grad;
  return forward_backward(t, &psnr, dist, bpp);
}

int wl_trainer_step(wl_trainer *t, double *psnr, double *bpp) {
  double dist;
  if (!t || !psnr || !bpp) return WL_FAIL_NULL();
  WL_TRY(forward_backward(t, psnr, &dist, bpp));
  adamw(t);
  t->step++;
  return 0;
}

/* Encodes the image img (alpha ignored) or the clip a with the current weights and decodes it:
 * the mean squared error on the [-1/2, 1/2] scale of the samples, and the .wlc size. Audio
 * without its band envelope: what the weights make of the latents alone. */
static int round_trip(wl_trainer *t, const wl_image *img, const wl_audio *a, int keep, double *mse, size_t *len) {
  const wl_encode_opts o = {.keep = keep, .nofill = 1};
  wl_image plain = img ? *img : (wl_image){0}, oi = {0};
  wl_audio oa = {0};
  uint8_t *buf;
  plain.alpha = NULL;
  WL_TRY(img ? wl_encode(t->m, &plain, &o, &buf, len) : wl_encode_audio(t->m, a, &o, &buf, len));
  int e = img ? wl_decode(t->m, buf, *len, &oi) : wl_decode_audio(t->m, buf, *len, &oa);
  free(buf);
  if (e) return e;
  const wl_signal s = img ? wl_image_signal(img) : wl_audio_signal(a);
  const float *out = img ? oi.planes : oa.samples;
  const long n = (long)s.channels * s.height * s.width;
  const double scale = wl_sample_scale(&s);
  double se = 0;
#pragma omp parallel for reduction(+ : se)
  for (long i = 0; i < n; i++) {
    double d = (out[i] - s.planes[i]) * scale;
    se += d * d;
  }
  wl_image_release(&oi);
  wl_audio_release(&oa);
  *mse = se / (double)n;
  return 0;
}

int wl_trainer_validate(wl_trainer *t, const wl_image *img, int keep, double *mse, double *bpp) {
  size_t len;
  if (!t || !img || !mse || !bpp) return WL_FAIL_NULL();
  WL_TRY(round_trip(t, img, NULL, keep, mse, &len));
  *bpp = 8.0 * (double)len / ((double)img->height * img->width);
  return 0;
}

int wl_trainer_validate_audio(wl_trainer *t, const wl_audio *a, int keep, double *mse, double *kbps) {
  size_t len;
  if (!t || !a || !mse || !kbps) return WL_FAIL_NULL();
  WL_TRY(round_trip(t, NULL, a, keep, mse, &len));
  *kbps = 8.0 * (double)len * a->rate / ((double)a->frames * 1000);
  return 0;
}

/* The settings a model records besides its shapes, the step, the gain and the command:
 * wl_trainer_save writes them (in this order, the gain after the steps), wl_trainer_recorded
 * reads them back; the last four since version 0.5. */
enum { RECORDED = 12, RECORDED_BEFORE_0_5 = 8 };
static const char *const recorded_key[RECORDED] = {"train_seed", "train_crop", "train_batch", "train_lr",
                                                   "train_lambda", "train_jitter", "train_steps", "train_full",
                                                   "train_warmup", "train_weight_decay", "train_loss", "train_quant"};

int wl_trainer_save(wl_trainer *t, int checkpoint, uint8_t **out, size_t *outlen) {
  if (!t || !out || !outlen) return WL_FAIL_NULL();
  *out = NULL;
  wl_model *m = t->m;
  const wl_train_params *p = &t->p;
  int e = checkpoint ? flat_tables(m) : wl_model_tables(m, t->sig, t->n);
  if (e) return e;
  char v[3][64], r[RECORDED][64];
  snprintf(v[0], 64, "%ld", t->step);
  snprintf(v[1], 64, "%d", t->n);
  snprintf(v[2], 64, "%g", p->gain > 0 ? p->gain : wl_default_gain(t->dims));
  snprintf(r[0], 64, "%llu", (unsigned long long)p->seed);
  snprintf(r[1], 64, "%d", p->crop);
  snprintf(r[2], 64, "%d", p->batch);
  snprintf(r[3], 64, "%g", p->lr);
  snprintf(r[4], 64, "%g", p->lambda);
  snprintf(r[5], 64, "%g", p->jitter);
  snprintf(r[6], 64, "%ld", p->steps);
  snprintf(r[7], 64, "%g", p->full);
  snprintf(r[8], 64, "%d", p->warmup);
  snprintf(r[9], 64, "%g", p->weight_decay);
  snprintf(r[10], 64, "%d", p->loss);
  snprintf(r[11], 64, "%d", p->quant);
  const char *const *k = recorded_key;
  const char *keys[] = {"train_step", t->dims == 1 ? "train_clips" : "train_images", k[0], k[1], k[2], k[3], k[4], k[5],
                        k[6], "gain", k[7], k[8], k[9], k[10], k[11], "train_command"};
  char *vals[] = {v[0], v[1], r[0], r[1], r[2], r[3], r[4], r[5], r[6], v[2], r[7], r[8], r[9], r[10], r[11],
                  (char *)(p->command ? p->command : "")};
  const char *vname[] = {"adam.m", "adam.v"};
  float *vdata[] = {t->mom, t->var};
  const wl_model_extra x = {.nmeta = 16, .key = keys, .value = vals, .nvec = checkpoint ? 2 : 0, .vname = vname,
                            .vdata = vdata};
  return wl_model_serialize(m, &x, out, outlen);
}

/* The first shape in which checkpoint c and the model being trained m differ, named, as a
 * WL_ERR_MISMATCH; 0 when none does. */
static int shape_mismatch(const wl_model *c, const wl_model *m) {
  const struct { const char *name; int have, want; } s[] = {
      {"dimensions (image or audio)", c->d.dims, m->d.dims}, {"--channels", c->d.channels, m->d.channels},
      {"-J", c->d.J, m->d.J}, {"-K", c->d.K, m->d.K}, {"--bits", c->d.bits, m->d.bits}, {"-N", c->N, m->N},
      {"-R", c->R, m->R}, {"--taps", c->F, m->F}, {"--fine", c->Nf, m->Nf}, {"--fine-blocks", c->Rf, m->Rf}};
  for (size_t i = 0; i < sizeof s / sizeof s[0]; i++)
    if (s[i].have != s[i].want)
      return WL_FAIL_WHY(WL_ERR_MISMATCH, "%s %d here, %d in the checkpoint", s[i].name, s[i].want, s[i].have);
  return 0;
}

int wl_trainer_recorded(const uint8_t *buf, size_t len, wl_train_params *p) {
  if (!buf || !p) return WL_FAIL_NULL();
  char v[RECORDED][WL_META_MAX] = {{0}}, *val[RECORDED];
  for (int i = 0; i < RECORDED; i++) val[i] = v[i];
  const wl_model_extra x = {.nmeta = RECORDED, .key = recorded_key, .value = val};
  wl_model *c;
  WL_TRY(wl_model_parse(&c, buf, len, &x));
  wl_model_free(c);
  for (int i = 0; i < RECORDED_BEFORE_0_5; i++)
    if (!*v[i]) return WL_FAIL_WHY(WL_ERR_MODEL, "no %s recorded: not a neural model's checkpoint", recorded_key[i]);
  p->seed = strtoull(v[0], NULL, 10);
  p->crop = atoi(v[1]);
  p->batch = atoi(v[2]);
  p->lr = strtof(v[3], NULL);
  p->lambda = strtof(v[4], NULL);
  p->jitter = strtof(v[5], NULL);
  p->steps = atol(v[6]);
  p->full = strtof(v[7], NULL);
  if (*v[8]) p->warmup = atoi(v[8]);
  if (*v[9]) p->weight_decay = strtof(v[9], NULL);
  if (*v[10]) p->loss = atoi(v[10]);
  if (*v[11]) p->quant = atoi(v[11]);
  return 0;
}

int wl_trainer_resume(wl_trainer *t, const uint8_t *buf, size_t len) {
  if (!t) return WL_FAIL_NULL();
  char step[WL_META_MAX], gain[WL_META_MAX];
  char *val[] = {step, gain};
  const char *key[] = {"train_step", "gain"}, *vname[] = {"adam.m", "adam.v"};
  float *vdata[] = {t->mom, t->var};
  const wl_model_extra x = {.nmeta = 2, .key = key, .value = val, .nvec = 2, .vname = vname, .vdata = vdata};
  const wl_model *m = t->m;
  wl_model *c;
  WL_TRY(wl_model_parse(&c, buf, len, NULL)); /* shapes first: the optimiser state is sized by them */
  int e = !c->N ? WL_FAIL_WHY(WL_ERR_MISMATCH, "a linear model, not a checkpoint (neural training writes one beside "
                                                "its model, as MODEL.wlm.ckpt)")
                : shape_mismatch(c, m);
  wl_model_free(c);
  if (e || (e = wl_model_parse(&c, buf, len, &x))) return e;
  char g[64], *end; /* the gain, as wl_trainer_save wrote it: it scaled the encoder the checkpoint holds */
  snprintf(g, sizeof g, "%g", t->p.gain > 0 ? t->p.gain : wl_default_gain(t->dims));
  long s = strtol(step, &end, 10);
  if (strcmp(g, gain)) e = WL_FAIL_WHY(WL_ERR_MISMATCH, "--gain %s here, %s in the checkpoint", g, gain);
  else if (!*step || *end || s < 0) e = WL_FAIL(WL_ERR_MODEL);
  else {
    memcpy(m->params, c->params, sizeof(float) * (size_t)m->nparams);
    t->step = s;
  }
  wl_model_free(c);
  return e;
}
