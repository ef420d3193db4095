/* train/decoder.c: the backward pass of the decoder network (codec/decoder.c), for training and
 * refinement: gradients of the input latents and of the weights, from every block's kept
 * activations. tests/test_layers.c and tests/test_train.c check it against central differences. */
#include <string.h>
#include "codec/internal.h"
#include "codec/decoder.h"
#include "codec/layers.h"
#include "codec/train/train.h"

/* Backward of resnet_run with every block kept: dx (Ci, P) += ..., grad (laid out as params)
 * += the weights' gradients (NULL: not needed). tmp: 4 N*P floats; scratch: twice the forward's. */
static void resnet_backward(const wl_resnet *n, const float *x, wl_grid g, const float *dX, const wl_resnet_acts *a,
                            float *dx, float *grad, const float *params, float *tmp, float *scratch) {
  const int N = n->N, kh = n->kh, kw = n->kw;
  const long P = wl_grid_size(g), NP = (long)N * P, st = a->stride, taps = (long)kh * kw;
  const wl_grid one = {1, 1, (int)P};
  float *dh = tmp, *dsR = tmp + NP, *da = tmp + 2 * NP, *dc = tmp + 3 * NP;
#define GRAD(ptr) (grad ? grad + ((ptr) - params) : NULL)
  memset(dsR, 0, sizeof(float) * (size_t)NP);
  memset(dh, 0, sizeof(float) * (size_t)NP);
  wl_conv_backward(dsR, GRAD(n->out_w), NULL, dX, a->sR, n->out_w, N, n->Co, 1, 1, one, NULL);
  wl_silu_backward(dh, dsR, a->h + n->R * st, NP);
  for (int r = n->R - 1; r >= 0; r--) {
    const float *W1 = n->w + 2 * r * N * N * taps, *W2 = W1 + N * N * taps;
    const float *b1 = n->b + (size_t)2 * r * N;
    memset(da, 0, sizeof(float) * (size_t)NP);
    wl_conv_backward(da, GRAD(W2), GRAD(b1 + N), dh, a->a2 + r * st, W2, N, N, kh, kw, g, scratch);
    memset(dc, 0, sizeof(float) * (size_t)NP);
    wl_silu_backward(dc, da, a->c1 + r * st, NP);
    memset(da, 0, sizeof(float) * (size_t)NP);
    wl_conv_backward(da, GRAD(W1), GRAD(b1), dc, a->a1 + r * st, W1, N, N, kh, kw, g, scratch);
    wl_silu_backward(dh, da, a->h + r * st, NP); /* dh_r = dh_{r+1} + silu'(h_r) da */
  }
  wl_conv_backward(dx, GRAD(n->in_w), GRAD(n->in_b), dh, x, n->in_w, n->Ci, N, 1, 1, one, NULL);
#undef GRAD
}

size_t wl_decoder_backward_floats(const wl_model *m, wl_grid g) {
  const size_t P = (size_t)wl_grid_size(g), res = 4 * (size_t)m->N * P, fine = 16 * (size_t)m->Nf * P;
  return m->Nf ? 2 * (size_t)m->D * P + (res > fine ? res : fine) : res;
}

int wl_decoder_backward(const wl_model *m, const float *y, wl_grid g, const float *dX, const wl_decoder_acts *a,
                        float *dy, float *grad, float *tmp) {
  const int K = m->d.K, D = m->D;
  const long P = wl_grid_size(g), DP = (long)D * P;
  const wl_grid one = {1, 1, (int)P};
  if (m->Nf) { /* through the fine stage to dX of the level-J packets, in tmp */
    const wl_resnet fine = wl_fine_stage(m);
    float *dZ = tmp + DP;
    memcpy(dZ, dX, sizeof(float) * (size_t)DP);
    resnet_backward(&fine, a->fin, wl_finer(g), dX, &a->fine, dZ, grad, m->params, tmp + 2 * DP, a->scratch);
    WL_TRY(wl_one_level(tmp, dZ, D, g, 1, a->tmp, NULL, 0));
    dX = tmp;
    tmp += 2 * DP;
  }
  wl_conv_backward(dy, grad ? grad + (m->dec_w - m->params) : NULL, grad ? grad + (m->dec_b - m->params) : NULL, dX, y,
                   m->dec_w, K, D, 1, 1, one, NULL);
  if (!m->N) return 0;
  const wl_resnet res = wl_residual_path(m);
  resnet_backward(&res, y, g, dX, &a->res, dy, grad, m->params, tmp, a->scratch);
  return 0;
}
