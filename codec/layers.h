/* layers.h: the forward passes of the network layers (llm.c style) that the neural decoder
 * (decoder.c) runs; their backward passes are in train/train.h.
 *
 * Activations are channel-major: a tensor of C channels over a grid of B images of h x w
 * positions is float[C][P] with P = B*h*w, position p = (b*h + i)*w + j. 1-D signals are
 * grids with h = 1. Every *_backward ACCUMULATES (+=) into its gradient outputs (dx, dW, db);
 * callers zero them. A NULL gradient pointer means "not needed". Forward products are wl_gemm's
 * (gemm.c), backward ones OpenBLAS's (cblas_sgemm); elementwise loops are OpenMP-parallel.
 * Forward passes give the same bits for every thread count and CPU; backward
 * passes are deterministic for a fixed thread count. */
#ifndef WL_CODEC_LAYERS_H
#define WL_CODEC_LAYERS_H
#include <stdint.h>

typedef struct { int B, h, w; } wl_grid; /* P = B*h*w */

static inline long wl_grid_size(wl_grid g) { return (long)g.B * g.h * g.w; }

/* Convolution with a kh x kw kernel (kh, kw odd: 1x1, 3x3, or 1x3 for 1-D), stride 1,
 * 'same' zero padding at each image's border (no mixing between the B images).
 *   y (Co, P) = conv(x (Ci, P), W (Co, Ci, kh, kw)) + b (Co)      [b may be NULL]
 * Implemented as im2col + wl_gemm, in column blocks so scratch stays bounded; each block is one
 * thread's, so the result does not depend on the thread count (tested). These are the exact
 * convolutions that training differentiates; decoding runs a 3x3 kernel by Winograd's algorithm
 * (wl_wino_conv). scratch must hold wl_conv_scratch(Ci, Co, kh, kw, g) floats, sized for the
 * thread count of the call (0 for 1x1: may be NULL): enough for either. */
long wl_conv_scratch(int Ci, int Co, int kh, int kw, wl_grid g);
void wl_conv_forward(float *y, const float *x, const float *W, const float *b, int Ci, int Co, int kh,
                     int kw, wl_grid g, float *scratch);
/* y (Co, P) += W (Co, Ci) x (Ci, P), blocked as wl_conv_forward. */
void wl_matmul_add(float *y, const float *W, const float *x, int Co, int Ci, long P);

/* Positions per block of the forward pass. A block is one product (with its im2col) on one
 * thread: the blocks are fixed by P alone. (wl_gemm gives a column the same bits in any block;
 * the blocks date from OpenBLAS, whose SGEMM did not.) 576 x 512 floats of im2col (64 channels,
 * 3x3) are 1.2 MB, about a core's share of L2 and L3. */
#define WL_CONV_BLOCK 512L
/* Rows of one image's grid (B = 1) in a buffer: rows [r0, r0 + rows) at x, channel c's at
 * x + c * cs. */
typedef struct { float *x; int r0, rows; long cs; } wl_window;
/* Both for the n positions p0 .. p0+n-1 of one image's grid g alone (p0 and p0 + n multiples of
 * WL_CONV_BLOCK, or P: whole blocks), y (Co, n) with channel c at y + c * ycs: y = conv(x) + b,
 * or y += W x. Each output has the bits wl_conv_forward (wl_matmul_add) gives it over the whole
 * grid, as the same product column (image stripes, stripes.c). x must hold the rows of
 * wl_conv_window_rows for a kh-row kernel (1 for wl_matmul_add_window), and scratch
 * wl_conv_window_scratch floats (none for a 1x1 kernel). Image stripes run a 3x3 kernel by
 * wl_wino_conv instead, on the rows wl_conv_window_rows names for it (kh 3). */
void wl_conv_window(float *y, long ycs, long p0, long n, const wl_window *x, const float *W, const float *b, int Ci,
                    int Co, int kh, int kw, wl_grid g, float *scratch);
void wl_matmul_add_window(float *y, long ycs, long p0, long n, const wl_window *x, const float *W, int Co, int Ci,
                          wl_grid g);
void wl_conv_window_rows(wl_grid g, long p0, long n, int kh, int *r0, int *r1);
long wl_conv_window_scratch(int Ci, int kh, int kw);

/* A 3x3 convolution by Winograd's F(4x4, 3x3) (winograd.c) at positions p0 .. p0+n-1 of grid g
 * (any range; B images), y (Co, n) with channel c at y + c * ycs, then its epilogue as
 * wl_conv_finish's (b NULL: y = conv(x) alone). It rounds differently from wl_conv_forward
 * (relative differences around 1e-5): decoding's convolution, not training's. x holds the rows
 * of the B images' line from row r0 on, channel c at x + c * cs: the rows the tiles of rows
 * p0 / w .. (p0 + n - 1) / w read (wl_conv_window_rows). res and act (may be NULL) are laid out
 * as y. silu: x is read through SiLU (each row as its tiles gather it: no SiLU'd copy of x in
 * memory). Each output has the same bits whatever the range, the thread count, or the CPU.
 * scratch: wl_wino_scratch floats. */
typedef struct { const float *x; long cs, r0; int silu; } wl_wino_src;
#define WL_WINO_ROWS 4 /* a tile's rows (and columns) of outputs: a band of whole tiles computes no
                          row twice */
/* The kernels decoding runs by Winograd's algorithm: 3x3. */
static inline int wl_wino_kernel(int kh, int kw) { return kh == 3 && kw == 3; }
void wl_wino_conv(float *y, long ycs, long p0, long n, const wl_wino_src *x, const float *W, const float *U,
                  const float *b, const float *res, float *act, int Ci, int Co, wl_grid g, float *scratch);
long wl_wino_scratch(int Ci, int Co);
/* U (WL_WINO_XI, Co, Ci): W's kernels transformed, made once for a convolution computed in many
 * bands (given to wl_wino_conv as U, W then unused; without it each call makes it). */
#define WL_WINO_XI 36 /* products per channel pair: the 6x6 transformed tile */
void wl_wino_weights(float *U, const float *W, int Ci, int Co);
/* C (M, N) = A (M, K) B (K, N) (gemm.c), or C = A B + C with acc: rows of A packed, of B and C
 * ldb and ldc floats apart. Each element is fmaf over k in order from 0 (acc: then plus C), by
 * the widest kernel the CPU has, up to `widest` (every kernel gives the same bits). */
enum { WL_GEMM_PLAIN, WL_GEMM_AVX2, WL_GEMM_AVX512 };
void wl_gemm(float *C, long ldc, const float *A, const float *B, long ldb, int M, int K, long N, int acc,
             int widest);
/* A convolution's m outputs from its products acc (activation.c): raw: y = acc (not aliased);
 * else v = acc + b, with res v = res + v; y = v and, with act, act = silu(v). y may be res or
 * act (act then holds silu(v)); acc may be y's or act's row. */
void wl_conv_finish(float *y, float *act, const float *acc, const float *res, float b, int raw, long m);

/* wl_conv_forward's y plus res (NULL: none; may be y), and act = silu(y) (NULL: none; may be y:
 * then it holds silu(y) only): a residual block's convolution and the activation that follows it,
 * made block by block while the block is in cache. Needs the bias b; y, res and act are (Co, P). */
void wl_conv_act(float *y, float *act, const float *res, const float *x, const float *W, const float *b, int Ci,
                 int Co, int kh, int kw, wl_grid g, float *scratch);

/* y (K, P) = W (K, D) x (D, P) + b (K): a 1x1 convolution. */
static inline void wl_affine(const float *W, const float *b, const float *x, int K, int D, long P, float *y) {
  wl_conv_forward(y, x, W, b, D, K, 1, 1, (wl_grid){1, 1, (int)P}, NULL);
}

/* SiLU: y = x * sigmoid(x) over n values, on the calling thread (wl_conv_act's). */
void wl_silu_span(float *y, const float *x, long n);

/* Positions per im2col chunk of a backward pass: bounds the scratch to Ci*kh*kw * 4096 floats
 * (9 MiB for 64 channels at 3x3) while each product still gets thousands of columns. A chunk is
 * any contiguous range of p: it may start or end in the middle of a row or an image. */
#define WL_CONV_CHUNK 4096L
/* col (Ci*kh*kw, n) = the taps of x (Ci, P) at positions p0 .. p0+n-1: row (ci*kh + a)*kw + c
 * is channel ci shifted by (a - kh/2, c - kw/2), zero where the tap leaves the image. */
void wl_im2col(float *col, const float *x, int Ci, int kh, int kw, wl_grid g, long p0, long n);
/* Positions p .. p+run-1, run = min(left, what remains of p's image row), share one image
 * row. The tap (dy, dx) of position p+k is p+k + dy*w + dx; it lies inside the same image
 * exactly for k in [*lo, *hi) (empty when row i+dy is outside the image). Returns run. */
long wl_tap_run(wl_grid g, long p, long left, int dy, int dx, long *lo, long *hi);
#endif
