/* decoder.c: the decoder network at latent resolution (DESIGN.md, "Autoencoder"):
 *   X = W_d y + b_d                                   linear path (every model)
 *     + W_out silu(h_R)                               residual path (kind "neural")
 *   h_0 = W_in y + b_in,  h_{r+1} = h_r + conv2_r(silu(conv1_r(silu(h_r))))
 * with kh x kw convolutions: 3x3 on the latent grid of an image, 1x3 along time for audio.
 * train.c runs the same network with its activations kept for the backward pass. */
#include <cblas.h>
#include <stdlib.h>
#include "codec/internal.h"
#include "codec/layers.h"

int wl_decoder_forward(const wl_model *m, const float *y, int h, int w, float *X) {
  const int K = m->d.K, D = m->D, N = m->N, kh = m->kh, kw = m->kw;
  const size_t taps = (size_t)kh * kw;
  const wl_grid g = {1, h, w};
  const long P = wl_grid_size(g);
  wl_affine(m->dec_w, m->dec_b, y, D, K, P, X);
  if (!N) return 0;
  float *hb = malloc(sizeof(float) * (size_t)N * P), *a = malloc(sizeof(float) * (size_t)N * P);
  float *t = malloc(sizeof(float) * (size_t)N * P), *scratch = malloc(sizeof(float) * (size_t)wl_conv_scratch(N, kh, kw, g));
  int e = hb && a && t && scratch ? 0 : WL_ERR_NOMEM;
  if (!e) {
    wl_affine(m->res_in_w, m->res_in_b, y, N, K, P, hb);
    for (int r = 0; r < m->R; r++) {
      const float *W1 = m->res_w + (size_t)2 * r * N * N * taps, *W2 = W1 + (size_t)N * N * taps;
      const float *b1 = m->res_b + (size_t)2 * r * N, *b2 = b1 + N;
      wl_silu_forward(a, hb, N * P);
      wl_conv_forward(t, a, W1, b1, N, N, kh, kw, g, scratch);
      wl_silu_forward(t, t, N * P);
      wl_conv_forward(a, t, W2, b2, N, N, kh, kw, g, scratch);
      wl_add_forward(hb, hb, a, N * P);
    }
    wl_silu_forward(a, hb, N * P);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, D, (int)P, N, 1.0f, m->res_out_w, N, a, (int)P, 1.0f, X,
                (int)P);
  }
  free(hb); free(a); free(t); free(scratch);
  return e;
}
