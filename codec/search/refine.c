/* refine.c: rate-distortion refinement of an image's latents against the model's own decoder
 * (wl_encode_opts.refine). The PCA encoder's round(y) ignores both what the decoder makes of the
 * integers and what they cost; refinement searches for integers with a lower cost
 *   J = 10 log10(squared error of the decoded packets) + LAMBDA * coded bits per pixel
 * (dB; the packets are those the decoder outputs, of wl_decoder_levels(m) levels; the packet
 * transform is nearly orthogonal, so the packets' error is the samples'). Each
 * iteration
 *   1. decodes the current round(y) as wl_decode would and codes it with the entropy coder: the
 *      candidate of lowest J so far is kept (the plain encoder's q is the first candidate, so J
 *      never rises within a tile's window);
 *   2. decodes y with uniform noise added in the companded domain (the trainer's quantisation
 *      proxy) and takes the gradient of J through the decoder, the bits being a differentiable
 *      stand-in for the predictive entropy coder: Laplace bits of each latent's residual from
 *      its left and upper neighbours;
 *   3. moves y by an Adam step, rounding passed straight through.
 * Images are refined in tiles of TILE x TILE latent positions, each with HALO positions of
 * context around it (only the tile's latents are kept), so memory stays bounded for any size.
 * The work splits and sums in fixed orders: the result does not depend on the thread count. */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include "codec/search/search.h"
#include "codec/train/train.h"
#include "entropy/entropy.h"
#include "wavelet/wpt.h"

#define TILE 96         /* latent positions per tile side: 768 pixels at J = 3 */
#define HALO 8          /* context around a tile, latent positions: the reach of R = 4 3x3 blocks */
#define LR 0.05         /* Adam step in y's units (a quantisation step is about 0.7 near 0) */
#define LAMBDA 10.0     /* dB per bit per pixel (measured: codec/models/README.md, "Refinement") */
#define ADAM_B1 0.9
#define ADAM_B2 0.999
#define DB (10 / M_LN10)

/* The buffers of one window of h x w = P latent positions. */
typedef struct {
  const wl_model *m;
  int keep, h, w;
  long P;
  float *X, *Xh, *y, *z, *u, *du, *dz, *mom, *var, *net, *tmp; /* X, y: the window's packets and encoder output */
  wl_decoder_acts acts;
  int16_t *q, *cand; /* the best candidate, the current one */
  uint8_t *streams;
  size_t bound;
  double *part; /* (max(D, keep)) partial sums, added in order */
} window;

static void window_free(window *b) {
  free(b->X); free(b->Xh); free(b->y); free(b->z); free(b->u); free(b->du); free(b->dz);
  free(b->mom); free(b->var); free(b->net); free(b->tmp); free(b->q); free(b->cand); free(b->streams); free(b->part);
}

/* Buffers for a window of h x w latent positions. */
static int window_alloc(window *b, const wl_model *m, int keep, int h, int w) {
  memset(b, 0, sizeof *b);
  b->m = m;
  b->keep = keep;
  b->h = h;
  b->w = w;
  b->P = (long)h * w;
  const size_t KP = (size_t)m->d.K * b->P, D = (size_t)m->D;
  b->bound = wle_bound((size_t)b->P, m->d.bits);
  b->X = wl_malloc_big(sizeof(float) * D * (size_t)b->P);
  b->Xh = wl_malloc_big(sizeof(float) * D * (size_t)b->P);
  b->y = malloc(sizeof(float) * KP); b->z = malloc(sizeof(float) * KP); b->u = malloc(sizeof(float) * KP);
  b->du = malloc(sizeof(float) * KP);
  b->dz = malloc(sizeof(float) * KP); b->mom = calloc(KP, sizeof(float)); b->var = calloc(KP, sizeof(float));
  const wl_grid g = {1, h, w};
  b->net = malloc(sizeof(float) * (wl_decoder_acts_floats(m, g, 1) + 1)); /* linear: 0 + 1 */
  b->tmp = malloc(sizeof(float) * (wl_decoder_backward_floats(m, g) + 1));
  if (b->net) wl_decoder_acts_layout(m, g, 1, b->net, &b->acts);
  b->q = malloc(sizeof(int16_t) * KP);
  b->cand = malloc(sizeof(int16_t) * KP);
  b->streams = malloc(b->bound * (size_t)keep);
  b->part = malloc(sizeof(double) * (D > (size_t)keep ? D : (size_t)keep));
  return b->part && b->X && b->Xh && b->y && b->z && b->u && b->du && b->dz && b->mom && b->var && b->net && b->tmp && b->q &&
         b->cand && b->streams ? 0 : WL_FAIL(WL_ERR_NOMEM);
}

/* The residual of u[o], at (i, j) of a plane of width w, from the mean of its left and upper
 * neighbours (those that exist); *nb: how many there are. */
static inline float residual(const float *u, long o, int i, int j, int w, int *nb) {
  *nb = (i > 0) + (j > 0);
  return u[o] - (*nb ? ((i > 0 ? u[o - w] : 0) + (j > 0 ? u[o - 1] : 0)) / (float)*nb : 0);
}

/* Bits of u's residuals from the mean of the left and upper neighbours (those that exist) under
 * Laplace densities of log scales lb (one per channel); du (not NULL) += d bits / d u. */
static double residual_bits(const window *b, const float *u, const float *lb, float *du) {
  const int h = b->h, w = b->w;
  double bits = 0;
#pragma omp parallel for schedule(static)
  for (int k = 0; k < b->keep; k++) {
    double sum = 0;
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++) {
        const long o = k * b->P + (long)i * w + j;
        int nb;
        float g;
        sum += wl_laplace_bits(residual(u, o, i, j, w, &nb), lb[k], du ? &g : NULL, NULL);
        if (!du) continue;
        du[o] += g;
        if (i > 0) du[o - w] -= g / (float)nb;
        if (j > 0) du[o - 1] -= g / (float)nb;
      }
    b->part[k] = sum;
  }
  for (int k = 0; k < b->keep; k++) bits += b->part[k];
  return bits;
}

/* Per channel, the log of the mean absolute residual of u (the Laplace scale that fits it). */
static void residual_scales(const window *b, const float *u, float *lb) {
  const int h = b->h, w = b->w;
  for (int k = 0; k < b->keep; k++) {
    double sum = 0;
    for (int i = 0; i < h; i++)
      for (int j = 0; j < w; j++) {
        int nb;
        sum += fabsf(residual(u, k * b->P + (long)i * w + j, i, j, w, &nb));
      }
    lb[k] = (float)log(fmax(sum / (double)b->P, 0.05));
  }
}

/* Decodes z (K, P) into b->Xh and sets *se to the squared error |Xh - X|^2 over the window;
 * b->Xh then holds Xh - X, the error's half-gradient. */
static int decode_error(window *b, double *se) {
  const long P = b->P;
  WL_TRY(wl_decoder_run(b->m, b->z, (wl_grid){1, b->h, b->w}, b->Xh, &b->acts));
  *se = 0;
#pragma omp parallel for schedule(static)
  for (int d = 0; d < b->m->D; d++) {
    float *e = b->Xh + d * P;
    const float *X = b->X + d * P;
    double sum = 0;
    for (long p = 0; p < P; p++) {
      e[p] -= X[p];
      sum += (double)e[p] * e[p];
    }
    b->part[d] = sum;
  }
  for (int d = 0; d < b->m->D; d++) *se += b->part[d];
  return 0;
}

/* The coded size of the keep planes of q, as wl_encode would write them. */
static int coded_size(window *b, const int16_t *q, size_t *len) {
  wl_header h = {.keep = b->keep, .lat_h = b->h, .lat_w = b->w, .bits = b->m->d.bits};
  WL_TRY(wl_code_channels(b->m, q, &h, b->streams, b->bound, NULL));
  *len = 0;
  for (int c = 0; c < b->keep; c++) *len += h.stream_len[c];
  return 0;
}

/* Refines b's latents (b->X, b->y set) into b->q; npix: the pixels the window stands for. */
static int refine_window(window *b, double npix, int iters, uint64_t seed) {
  const wl_model *m = b->m;
  const int K = m->d.K, half = 1 << (m->d.bits - 1);
  const long P = b->P, kp = b->keep * P;
  float lb[WL_MAX_K];
  double se;
  for (long i = kp; i < (long)K * P; i++) b->z[i] = m->fill[i / P];
  double best = INFINITY;
  for (int it = 0; it <= iters; it++) {
    /* 1. the candidate round(y) */
    int16_t *cand = b->cand;
#pragma omp parallel for schedule(static)
    for (long i = 0; i < kp; i++) {
      cand[i] = wl_quantise(m, b->y[i]);
      b->z[i] = m->dequant[cand[i] + half];
    }
    size_t len;
    WL_TRY(coded_size(b, cand, &len));
    WL_TRY(decode_error(b, &se));
    const double cost = 10 * log10(fmax(se, 1e-30)) + LAMBDA * 8.0 * (double)len / npix;
    if (cost < best) {
      best = cost;
      memcpy(b->q, cand, sizeof(int16_t) * (size_t)kp);
    }
    if (it == iters) break;
    if (!it) {
      for (long i = 0; i < kp; i++) b->u[i] = cand[i];
      residual_scales(b, b->u, lb);
    }
    /* 2. the gradient at y plus noise */
    wl_compand_forward(b->u, b->y, kp, m->d.bits);
    wl_noise_forward(b->u, kp, seed + (uint64_t)it);
    wl_uncompand_forward(b->z, b->u, kp, m->d.bits);
    memset(b->du, 0, sizeof(float) * (size_t)kp);
    residual_bits(b, b->u, lb, b->du);
    for (long i = 0; i < kp; i++) b->du[i] *= (float)(LAMBDA / npix);
    memset(b->dz, 0, sizeof(float) * (size_t)K * P);
    wl_compand_backward(b->dz, b->du, b->y, kp, m->d.bits); /* the rate term's d / d y */
    WL_TRY(decode_error(b, &se));
    const float f = (float)(2 * DB / fmax(se, 1e-30));
#pragma omp parallel for schedule(static)
    for (long i = 0; i < (long)m->D * P; i++) b->Xh[i] *= f;
    WL_TRY(wl_decoder_backward(m, b->z, (wl_grid){1, b->h, b->w}, b->Xh, &b->acts, b->dz, NULL, b->tmp));
    /* 3. Adam on y, rounding passed straight through */
    const double c1 = 1 - pow(ADAM_B1, it + 1), c2 = 1 - pow(ADAM_B2, it + 1);
#pragma omp parallel for schedule(static)
    for (long i = 0; i < kp; i++) {
      b->mom[i] = (float)(ADAM_B1 * b->mom[i] + (1 - ADAM_B1) * b->dz[i]);
      b->var[i] = (float)(ADAM_B2 * b->var[i] + (1 - ADAM_B2) * b->dz[i] * b->dz[i]);
      b->y[i] -= (float)(LR * (b->mom[i] / c1) / (sqrt(b->var[i] / c2) + 1e-30));
    }
  }
  return 0;
}

/* Rows r0 .. r0 + rows - 1, columns c0 .. c0 + cols - 1 of each of n planes of width w, P apart,
 * into blk: n planes rows x cols, bP apart. */
static void block_copy(const float *full, float *blk, int n, long P, int w, long bP, int r0, int c0, int rows, int cols) {
  for (int d = 0; d < n; d++)
    for (int r = 0; r < rows; r++)
      memcpy(blk + d * bP + (long)r * cols, full + d * P + (long)(r0 + r) * w + c0, sizeof(float) * (size_t)cols);
}

int wl_refine(const wl_model *m, const wl_signal *s, int keep, int iters, int16_t *q) {
  const int D = m->D;
  int h, w;
  wl_latent_shape(s, m->d.J, &h, &w);
  const long P = (long)h * w;
  wl_work work = {0};
  float *X, *y = malloc(sizeof(float) * (size_t)keep * P);
  int e = y ? wl_packets(s, m->d.J, &work, &X) : WL_FAIL(WL_ERR_NOMEM);
  if (!e) wl_affine(m->enc_w, m->enc_b, X, keep, D, P, y);
  const double px_per_pos = (double)s->height * s->width / (double)P;
  for (int i0 = 0; i0 < h && !e; i0 += TILE)
    for (int j0 = 0; j0 < w && !e; j0 += TILE) {
      /* the window: the tile and up to HALO positions around it */
      const int i1 = i0 + TILE < h ? i0 + TILE : h, j1 = j0 + TILE < w ? j0 + TILE : w;
      const int wi0 = i0 > HALO ? i0 - HALO : 0, wj0 = j0 > HALO ? j0 - HALO : 0;
      const int wi1 = i1 + HALO < h ? i1 + HALO : h, wj1 = j1 + HALO < w ? j1 + HALO : w;
      const int bh = wi1 - wi0, bw = wj1 - wj0;
      window b;
      e = window_alloc(&b, m, keep, bh, bw);
      if (!e) {
        block_copy(X, b.X, D, P, w, b.P, wi0, wj0, bh, bw);
        block_copy(y, b.y, keep, P, w, b.P, wi0, wj0, bh, bw);
        if (m->Nf) e = wl_wpt2_inverse(b.X, D / 4, 2 * bh, 2 * bw, 1, b.X); /* the decoder's output level */
      }
      if (!e) e = refine_window(&b, px_per_pos * (double)b.P, iters, ((uint64_t)i0 << 40) + ((uint64_t)j0 << 20));
      for (int k = 0; k < keep && !e; k++)
        for (int i = i0; i < i1; i++)
          memcpy(q + k * P + (long)i * w + j0, b.q + k * b.P + (long)(i - wi0) * bw + (j0 - wj0), sizeof(int16_t) * (size_t)(j1 - j0));
      window_free(&b);
    }
  wl_work_free(&work);
  free(y);
  return e;
}
