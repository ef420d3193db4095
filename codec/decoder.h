/* decoder.h: the decoder network (decoder.c), its activations and, for train/decoder.c, the
 * shapes of its residual nets. Internal to the library. */
#ifndef WL_CODEC_DECODER_H
#define WL_CODEC_DECODER_H
#include "codec/internal.h"
#include "codec/layers.h"

/* decoder.c: the decoder network (see there). Its output is packets of wl_decoder_levels(m)
 * levels: J, or J - 1 after a fine stage (m->Nf > 0), which works on the one-level inverse of
 * the level-J packets: (D, P) on an h x w grid becomes (D/4, 4P) on a 2h x 2w grid, the same
 * number of floats. */
static inline int wl_decoder_levels(const wl_model *m) { return m->d.J - (m->Nf > 0); }
/* X (D, P) = decoder(y (K, P)) on an h x w latent grid (P = h*w). */
int wl_decoder_forward(const wl_model *m, const float *y, int h, int w, float *X, float *work);
/* The floats of `work` it needs: activations and convolution scratch (0 for linear models). */
size_t wl_decoder_work_floats(const wl_model *m, int h, int w);
/* Activations of one residual net (the residual path, or the fine stage), each (N, P) for its
 * width N and grid: block r's input h, silu(h) a1, conv1 c1 and silu(c1) a2 at offset
 * r * stride (h: R + 1 blocks), conv2's output c2 and silu(h_R) sR once. stride 0 reuses one
 * buffer per tensor (a2 aliases c1; c2 and sR alias a1), or with a1 NULL two (decoding by
 * Winograd's algorithm, which reads h through SiLU: a2 aliases c1, sR aliases h, no c2);
 * stride N*P keeps every block for the backward pass. */
typedef struct {
  float *h, *a1, *c1, *a2, *c2, *sR;
  long stride;
} wl_resnet_acts;
typedef struct {
  wl_resnet_acts res, fine;
  float *fin;     /* fine stage: its input, the level J-1 packets (D, P), kept for the backward
                     pass (NULL without keep: the stage then runs in place) */
  float *tmp;     /* fine stage, batches (B > 1): one example's packets (D, h*w) */
  float *scratch; /* convolution scratch: for the forward pass, or twice that for the backward */
  float *spare;   /* without keep: the residual path's activations, free once it has run (the
                     one-level transform's scratch), nspare floats; else NULL */
  size_t nspare;
} wl_decoder_acts;
/* The floats of the activations over grid g (keep: of every block, for wl_decoder_backward),
 * and their layout in buf. */
size_t wl_decoder_acts_floats(const wl_model *m, wl_grid g, int keep);
void wl_decoder_acts_layout(const wl_model *m, wl_grid g, int keep, float *buf, wl_decoder_acts *a);
/* X (D, P) = decoder(y (K, P)) over grid g (packets of each of the B examples on its own). */
int wl_decoder_run(const wl_model *m, const float *y, wl_grid g, float *X, const wl_decoder_acts *a);
/* The one-level inverse packet transform of each example: X (D, P) on grid g -> Z (D/4, 4P) on
 * finer(g); adjoint: Z -> X (X overwritten). tmp: D*h*w floats when g.B > 1; else X and Z may
 * be one buffer, and the inverse takes `spare` (nspare floats) as its scratch where that is
 * enough (wl_wpt_scratch_floats), else memory of its own. */
int wl_one_level(float *X, float *Z, int D, wl_grid g, int adjoint, float *tmp, float *spare, size_t nspare);

/* One residual net: Ci channels in, width N, R blocks of kh x kw convolutions, Co channels out. */
typedef struct {
  const float *in_w, *in_b, *w, *b, *out_w;
  int Ci, N, R, Co, kh, kw;
} wl_resnet;

static inline wl_resnet wl_residual_path(const wl_model *m) {
  return (wl_resnet){m->res_in_w, m->res_in_b, m->res_w, m->res_b, m->res_out_w, m->d.K, m->N, m->R, m->D, m->kh, m->kw};
}

static inline wl_resnet wl_fine_stage(const wl_model *m) {
  return (wl_resnet){m->fine_in_w, m->fine_in_b, m->fine_w, m->fine_b, m->fine_out_w, m->D / 4, m->Nf, m->Rf, m->D / 4, 3, 3};
}

/* The fine stage's grid: twice the resolution of g. */
static inline wl_grid wl_finer(wl_grid g) { return (wl_grid){g.B, 2 * g.h, 2 * g.w}; }
#endif
