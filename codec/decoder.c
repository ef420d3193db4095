/* decoder.c: the decoder network at latent resolution (DESIGN.md, "Autoencoder"):
 *   X = W_d y + b_d                                   linear path (every model)
 *     + W_out silu(h_R)                               residual path (kind "neural")
 *   h_0 = W_in y + b_in,  h_{r+1} = h_r + conv2_r(silu(conv1_r(silu(h_r))))
 * with kh x kw convolutions: 3x3 on the latent grid of an image, 1x3 along time for audio.
 * wl_decoder_run is the one implementation; train.c and refine.c call it with every block's
 * activations kept for wl_decoder_backward. */
#include <cblas.h>
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/layers.h"

void wl_decoder_run(const wl_model *m, const float *y, wl_grid g, float *X, const wl_decoder_acts *a) {
  const int K = m->d.K, D = m->D, N = m->N, kh = m->kh, kw = m->kw;
  const size_t taps = (size_t)kh * kw;
  const long P = wl_grid_size(g), NP = (long)N * P, st = a->stride;
  wl_affine(m->dec_w, m->dec_b, y, D, K, P, X);
  if (!N) return;
  wl_affine(m->res_in_w, m->res_in_b, y, N, K, P, a->h);
  for (int r = 0; r < m->R; r++) {
    const float *W1 = m->res_w + (size_t)2 * r * N * N * taps, *W2 = W1 + (size_t)N * N * taps;
    const float *b1 = m->res_b + (size_t)2 * r * N, *b2 = b1 + N;
    float *h = a->h + r * st, *a1 = a->a1 + r * st, *c1 = a->c1 + r * st, *a2 = a->a2 + r * st;
    wl_silu_forward(a1, h, NP);
    wl_conv_forward(c1, a1, W1, b1, N, N, kh, kw, g, a->scratch);
    wl_silu_forward(a2, c1, NP);
    wl_conv_forward(a->c2, a2, W2, b2, N, N, kh, kw, g, a->scratch);
    wl_add_forward(h + st, h, a->c2, NP);
  }
  wl_silu_forward(a->sR, a->h + m->R * st, NP);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, (int)P, N, 1.0f, m->res_out_w, N, a->sR, (int)P, 1.0f, X,
              (int)P);
}

void wl_decoder_backward(const wl_model *m, const float *y, wl_grid g, const float *dX, const wl_decoder_acts *a,
                         float *dy, float *grad, float *tmp) {
  const int K = m->d.K, D = m->D, N = m->N, kh = m->kh, kw = m->kw;
  const long P = wl_grid_size(g), NP = (long)N * P, st = a->stride, taps = (long)kh * kw;
  const wl_grid one = {1, 1, (int)P};
  float *dh = tmp, *dsR = tmp + NP, *da = tmp + 2 * NP, *dc = tmp + 3 * NP;
#define GRAD(ptr) (grad ? grad + ((ptr) - m->params) : NULL)
  wl_conv_backward(dy, GRAD(m->dec_w), GRAD(m->dec_b), dX, y, m->dec_w, K, D, 1, 1, one, NULL);
  if (!N) return;
  memset(dsR, 0, sizeof(float) * (size_t)NP);
  memset(dh, 0, sizeof(float) * (size_t)NP);
  wl_conv_backward(dsR, GRAD(m->res_out_w), NULL, dX, a->sR, m->res_out_w, N, D, 1, 1, one, NULL);
  wl_silu_backward(dh, dsR, a->h + m->R * st, NP);
  for (int r = m->R - 1; r >= 0; r--) {
    const float *W1 = m->res_w + 2 * r * N * N * taps, *W2 = W1 + N * N * taps;
    const float *b1 = m->res_b + (size_t)2 * r * N;
    memset(da, 0, sizeof(float) * (size_t)NP);
    wl_conv_backward(da, GRAD(W2), GRAD(b1 + N), dh, a->a2 + r * st, W2, N, N, kh, kw, g, a->scratch);
    memset(dc, 0, sizeof(float) * (size_t)NP);
    wl_silu_backward(dc, da, a->c1 + r * st, NP);
    memset(da, 0, sizeof(float) * (size_t)NP);
    wl_conv_backward(da, GRAD(W1), GRAD(b1), dc, a->a1 + r * st, W1, N, N, kh, kw, g, a->scratch);
    wl_silu_backward(dh, da, a->h + r * st, NP); /* dh_r = dh_{r+1} + silu'(h_r) da */
  }
  wl_conv_backward(dy, GRAD(m->res_in_w), GRAD(m->res_in_b), dh, y, m->res_in_w, K, N, 1, 1, one, NULL);
#undef GRAD
}

size_t wl_decoder_work_floats(const wl_model *m, int h, int w) {
  const wl_grid g = {1, h, w};
  return m->N ? 3 * (size_t)m->N * (size_t)wl_grid_size(g) + (size_t)wl_conv_scratch(m->N, m->kh, m->kw, g) : 0;
}

int wl_decoder_forward(const wl_model *m, const float *y, int h, int w, float *X, float *work) {
  const wl_grid g = {1, h, w};
  static const wl_decoder_acts none = {0}; /* a linear model has no activations */
  if (!m->N) return wl_decoder_run(m, y, g, X, &none), 0;
  if (!work) return WL_ERR_ARG;
  /* One set of buffers, reused by every block: a1, c2, sR share `a`; c1, a2 share `t`. */
  const size_t NP = (size_t)m->N * (size_t)wl_grid_size(g);
  float *hb = work, *a = work + NP, *t = work + 2 * NP;
  const wl_decoder_acts acts = {.h = hb, .a1 = a, .c1 = t, .a2 = t, .c2 = a, .sR = a, .stride = 0, .scratch = work + 3 * NP};
  wl_decoder_run(m, y, g, X, &acts);
  return 0;
}
