/* layers.h: network layers with forward and backward passes (llm.c style), used by the
 * neural decoder (decoder.c) and the trainer (train.c).
 *
 * Activations are channel-major: a tensor of C channels over a grid of B images of h x w
 * positions is float[C][P] with P = B*h*w, position p = (b*h + i)*w + j. 1-D signals are
 * grids with h = 1. Every *_backward ACCUMULATES (+=) into its gradient outputs (dx, dW, db);
 * callers zero them. A NULL gradient pointer means "not needed". GEMMs go through OpenBLAS
 * (cblas_sgemm); elementwise loops are OpenMP-parallel. Forward passes give the same bits for
 * every thread count; backward passes are deterministic for a fixed thread count. */
#ifndef WL_CODEC_LAYERS_H
#define WL_CODEC_LAYERS_H
#include <stdint.h>

typedef struct { int B, h, w; } wl_grid; /* P = B*h*w */

static inline long wl_grid_size(wl_grid g) { return (long)g.B * g.h * g.w; }

/* Convolution with a kh x kw kernel (kh, kw odd: 1x1, 3x3, or 1x3 for 1-D), stride 1,
 * 'same' zero padding at each image's border (no mixing between the B images).
 *   y (Co, P) = conv(x (Ci, P), W (Co, Ci, kh, kw)) + b (Co)      [b may be NULL]
 * Implemented as im2col + SGEMM, in column blocks so scratch stays bounded; each block is one
 * thread's, so the result does not depend on the thread count (tested). scratch must hold
 * wl_conv_scratch(Ci, kh, kw, g) floats, sized for the thread count of the call (0 for 1x1:
 * may be NULL). */
long wl_conv_scratch(int Ci, int kh, int kw, wl_grid g);
void wl_conv_forward(float *y, const float *x, const float *W, const float *b, int Ci, int Co, int kh,
                     int kw, wl_grid g, float *scratch);
/* dx (Ci, P) += W^T (*) dy;  dW (Co, Ci, kh, kw) += dy (*) x;  db (Co) += sum_p dy.
 * scratch: 2 * wl_conv_scratch(...) floats. */
void wl_conv_backward(float *dx, float *dW, float *db, const float *dy, const float *x, const float *W,
                      int Ci, int Co, int kh, int kw, wl_grid g, float *scratch);

/* y (Co, P) += W (Co, Ci) x (Ci, P), blocked as wl_conv_forward. */
void wl_matmul_add(float *y, const float *W, const float *x, int Co, int Ci, long P);

/* y (K, P) = W (K, D) x (D, P) + b (K): a 1x1 convolution. */
static inline void wl_affine(const float *W, const float *b, const float *x, int K, int D, long P, float *y) {
  wl_conv_forward(y, x, W, b, D, K, 1, 1, (wl_grid){1, 1, (int)P}, NULL);
}

/* SiLU: y = x * sigmoid(x) over n values; backward dx += dy * silu'(x). */
void wl_silu_forward(float *y, const float *x, long n);
void wl_silu_backward(float *dx, const float *dy, const float *x, long n);

/* Residual add: y = a + b; backward: da += dy, db += dy. */
void wl_add_forward(float *y, const float *a, const float *b, long n);
void wl_add_backward(float *da, float *db, const float *dy, long n);

/* WaLLoC companding for B-bit latents (bottleneck.c's L and s):
 *   forward  u = 2L (Phi(y/s) - 1/2)
 *   inverse  y = s Phi^-1(clamp(u/(2L) + 1/2, 1e-4, 1 - 1e-4))   (gradient 0 where clamped) */
void wl_compand_forward(float *u, const float *y, long n, int bits);
void wl_compand_backward(float *dy, const float *du, const float *y, long n, int bits);
void wl_uncompand_forward(float *y, const float *u, long n, int bits);
void wl_uncompand_backward(float *du, const float *dy, const float *u, long n, int bits);

/* Quantisation proxy for training: u += U(-1/2, 1/2), from a counter-based generator
 * (seed, index) so the noise does not depend on the thread count. Backward is identity. */
void wl_noise_forward(float *u, long n, uint64_t seed);

/* Uniform float in [0, 1) from (seed, counter): SplitMix64. */
float wl_uniform(uint64_t seed, uint64_t counter);

#endif
