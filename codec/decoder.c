/* decoder.c: the decoder network (DESIGN.md, "Autoencoder"):
 *   X = W_d y + b_d                                   linear path (every model)
 *     + W_out silu(h_R)                               residual path (kind "neural")
 *   h_0 = W_in y + b_in,  h_{r+1} = h_r + conv2_r(silu(conv1_r(silu(h_r))))
 * with kh x kw convolutions at latent resolution: 3x3 on the latent grid of an image, 1x3 along
 * time for audio. An image model may add a fine stage, the same kind of residual net (3x3,
 * width Nf, Rf blocks) one packet level finer: Z = the one-level inverse of X's packets (each
 * quadruple of level-J bands merged into its level J-1 band: twice the resolution, a quarter
 * of the channels), Z += F_out silu(g_Rf) with g_0 = F_in Z + f_in; its output is Z.
 * wl_decoder_run is the one implementation; train.c and refine.c call it with every block's
 * activations kept for wl_decoder_backward (train/decoder.c). */
#include <stdlib.h>
#include <string.h>
#include "codec/internal.h"
#include "codec/decoder.h"
#include "codec/layers.h"
#include "wavelet/wpt.h"

/* Whether conv() runs a kh x kw convolution by Winograd's algorithm: decoding (exact 0) a 3x3
 * one. Its input may then be read through SiLU (the nets keep no silu(h): resnet_layout). */
static int winograd(int kh, int kw, int exact) { return !exact && wl_wino_kernel(kh, kw); }

/* A block's convolution and its epilogue (wl_conv_act): decoding (exact 0) runs a 3x3 one by
 * Winograd's algorithm, as the image stripes do, reading x through SiLU when `silu`; training,
 * which differentiates it, by im2col (x already through SiLU). */
static void conv(float *y, float *act, const float *res, const float *x, int silu, const float *W, const float *b,
                 int N, int kh, int kw, wl_grid g, float *scratch, int exact) {
  const long P = wl_grid_size(g);
  if (winograd(kh, kw, exact))
    wl_wino_conv(y, P, 0, P, &(wl_wino_src){x, P, 0, silu}, W, NULL, b, res, act, N, N, g, scratch);
  else wl_conv_act(y, act, res, x, W, b, N, N, kh, kw, g, scratch);
}

/* X (Co, P) += out_w silu(h_R), h_0 = in_w x (Ci, P) + in_b. Each convolution computes the SiLU
 * of its output too, and the second of a block adds the block's input. Activations kept for the
 * backward pass (a->stride) mean training: the exact convolutions. Decoding by Winograd's
 * algorithm keeps no silu(h) (a->a1 NULL): the first convolution of a block reads h through
 * SiLU, and the last block's second leaves silu(h_R) in h itself. */
static void resnet_run(const wl_resnet *n, const float *x, wl_grid g, float *X, const wl_resnet_acts *a, float *scratch) {
  const int N = n->N, R = n->R, fused = !a->a1;
  const size_t taps = (size_t)n->kh * n->kw;
  const long P = wl_grid_size(g), st = a->stride;
  wl_conv_act(a->h, R ? a->a1 : a->sR, NULL, x, n->in_w, n->in_b, n->Ci, N, 1, 1, (wl_grid){1, 1, (int)P}, NULL);
  for (int r = 0; r < R; r++) {
    const float *W1 = n->w + (size_t)2 * r * N * N * taps, *W2 = W1 + (size_t)N * N * taps;
    const float *b1 = n->b + (size_t)2 * r * N, *b2 = b1 + N;
    float *h = a->h + r * st, *c1 = a->c1 + r * st, *a2 = a->a2 + r * st;
    float *next = r + 1 == R ? a->sR : fused ? NULL : a->a1 + (r + 1) * st;
    conv(c1, a2, NULL, fused ? h : a->a1 + r * st, fused, W1, b1, N, n->kh, n->kw, g, scratch, st != 0);
    conv(h + st, next, h, a2, 0, W2, b2, N, n->kh, n->kw, g, scratch, st != 0);
  }
  wl_matmul_add(X, n->out_w, a->sR, n->Co, N, P);
}

int wl_one_level(float *X, float *Z, int D, wl_grid g, int adjoint, float *tmp, float *spare, size_t nspare) {
  const int C = D / 4, H = 2 * g.h, W = 2 * g.w;
  const long ss = (long)g.h * g.w, P = ss * g.B;
  int e = 0;
  if (g.B == 1)
    e = adjoint ? wl_wpt2_inverse_adjoint(Z, C, H, W, 1, X) : wl_wpt2_inverse_with(X, C, H, W, 1, Z, spare, nspare);
  for (int b = 0; b < g.B && g.B > 1 && !e; b++) {
    if (adjoint) wl_copy_rows(tmp, 4 * ss, Z + 4 * b * ss, 4 * P, C, 4 * ss);
    else wl_copy_rows(tmp, ss, X + b * ss, P, D, ss);
    e = adjoint ? wl_wpt2_inverse_adjoint(tmp, C, H, W, 1, tmp) : wl_wpt2_inverse(tmp, C, H, W, 1, tmp);
    if (adjoint) wl_copy_rows(X + b * ss, P, tmp, ss, D, ss);
    else wl_copy_rows(Z + 4 * b * ss, 4 * P, tmp, 4 * ss, C, 4 * ss);
  }
  return e;
}

int wl_decoder_run(const wl_model *m, const float *y, wl_grid g, float *X, const wl_decoder_acts *a) {
  const long DP = (long)m->D * wl_grid_size(g);
  wl_model_weights(m);
  wl_affine(m->dec_w, m->dec_b, y, m->D, m->d.K, wl_grid_size(g), X);
  if (!m->N) return 0;
  const wl_resnet res = wl_residual_path(m), fine = wl_fine_stage(m);
  resnet_run(&res, y, g, X, &a->res, a->scratch);
  if (!m->Nf) return 0;
  /* the stage's input Z: kept in a->fin for the backward pass, else X itself (decoding: the net
   * reads its input before it adds its output) */
  float *Z = a->fin ? a->fin : X;
  WL_TRY(wl_one_level(X, Z, m->D, g, 0, a->tmp, a->spare, a->nspare));
  if (Z != X) memcpy(X, Z, sizeof(float) * (size_t)DP);
  resnet_run(&fine, Z, wl_finer(g), X, &a->fine, a->scratch);
  return 0;
}

/* Lays out one net's activations (width N over P positions, R blocks) at buf; returns the floats.
 * Without keep: 3 tensors, or 2 when the convolutions read h through SiLU (fused). */
static size_t resnet_layout(int N, int R, long P, int keep, int fused, float *buf, wl_resnet_acts *a) {
  const long NP = (long)N * P, st = keep ? NP : 0;
  const long nh = keep ? R + 1 : 1, nb = keep ? R : 1;
  if (a && fused) *a = (wl_resnet_acts){.h = buf, .c1 = buf + NP, .a2 = buf + NP, .sR = buf};
  else if (a) {
    a->stride = st;
    a->h = buf;
    a->a1 = buf + nh * NP;
    a->c1 = a->a1 + nb * NP;
    a->a2 = keep ? a->c1 + nb * NP : a->c1;
    a->c2 = keep ? a->a2 + nb * NP : a->a1;
    a->sR = keep ? a->c2 + NP : a->a1;
  }
  return (size_t)(keep ? (4 * R + 3) * NP : fused ? 2 * NP : 3 * NP);
}

/* Scratch of a convolution as conv() runs it: Winograd's when decoding a 3x3 kernel (exact 0),
 * else wl_conv_scratch's, which holds either. */
static long conv_scratch(int N, int kh, int kw, wl_grid g, int exact) {
  return winograd(kh, kw, exact) ? wl_wino_scratch(N, N) : wl_conv_scratch(N, N, kh, kw, g);
}

static size_t layout(const wl_model *m, wl_grid g, int keep, float *buf, wl_decoder_acts *a) {
  if (!m->N) return 0;
  const wl_grid f = wl_finer(g);
  const long P = wl_grid_size(g), Pf = wl_grid_size(f);
  size_t n = resnet_layout(m->N, m->R, P, keep, winograd(m->kh, m->kw, keep), buf, a ? &a->res : NULL);
  long conv = conv_scratch(m->N, m->kh, m->kw, g, keep);
  if (m->Nf) {
    /* without keep the fine stage reuses the residual path's buffers, which it follows */
    const size_t at = keep ? n : 0;
    const size_t nf = resnet_layout(m->Nf, m->Rf, Pf, keep, winograd(3, 3, keep), buf ? buf + at : NULL, a ? &a->fine : NULL);
    n = at + nf > n ? at + nf : n;
    if (a && !keep) a->spare = buf, a->nspare = n;
    const long cf = conv_scratch(m->Nf, 3, 3, f, keep);
    conv = cf > conv ? cf : conv;
    if (a) a->fin = keep ? buf + n : NULL; /* the fine stage's input, for the backward pass */
    n += keep ? (size_t)m->D * (size_t)P : 0;
    if (a) a->tmp = g.B > 1 ? buf + n : NULL;
    if (g.B > 1) n += (size_t)m->D * (size_t)(P / g.B);
  }
  if (a) a->scratch = buf + n;
  return n + (size_t)(keep ? 2 : 1) * (size_t)conv;
}

size_t wl_decoder_acts_floats(const wl_model *m, wl_grid g, int keep) { return layout(m, g, keep, NULL, NULL); }

void wl_decoder_acts_layout(const wl_model *m, wl_grid g, int keep, float *buf, wl_decoder_acts *a) {
  memset(a, 0, sizeof *a);
  layout(m, g, keep, buf, a);
}

size_t wl_decoder_work_floats(const wl_model *m, int h, int w) {
  return wl_decoder_acts_floats(m, (wl_grid){1, h, w}, 0);
}

int wl_decoder_forward(const wl_model *m, const float *y, int h, int w, float *X, float *work) {
  const wl_grid g = {1, h, w};
  wl_decoder_acts a;
  if (m->N && !work) return WL_FAIL(WL_ERR_ARG);
  wl_decoder_acts_layout(m, g, 0, work, &a);
  return wl_decoder_run(m, y, g, X, &a);
}
