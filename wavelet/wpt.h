/* wpt.h: CDF 9/7 (bior4.4) wavelet packet transform, 1-D and 2-D, forward and inverse, and
 * their adjoints (transposes) for backpropagation.
 * The coefficients and their order are a file format: they equal PyWavelets' periodized
 * bior4.4 packet tree (every band split again at every level), computed by float32 lifting. */
#ifndef WL_WAVELET_WPT_H
#define WL_WAVELET_WPT_H

/* Errors: the values of WL_ERR_NOMEM and WL_ERR_ARG (include/walloc.h), so that the codec
 * passes them on unchanged (codec/error.c checks that they agree). */
enum { WPT_ERR_NOMEM = -1, WPT_ERR_ARG = -2 };

/* A kernel compiled for AVX2 too and picked at run time (an ifunc). For elementwise operations
 * under -ffp-contract=off (no fused multiply-adds) each clone gives the same bits. */
#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define WL_CLONES __attribute__((target_clones("avx2", "default")))
#else
#define WL_CLONES
#endif

/* One split, on a sequence x of even length 2n, indices mod 2n, with pywt's bior4.4 filters:
 *   cA[i] = sum_k dec_lo[k] x[2i+5-k],  cD[i] = sum_k dec_hi[k] x[2i+5-k],  k = 0..9, i < n,
 * which is pywt.dwt(x, 'bior4.4', mode='periodization') (cA centred on x[2i], cD on x[2i+1]).
 * 2-D splits apply it along H, then along W: pywt.dwt2(x, 'bior4.4', mode='periodization').
 *
 * 1-D: x is [C][T] -> X is [C*2^J][T>>J]. At each level band b splits into children
 *   2b   'a'  cA
 *   2b+1 'd'  cD
 * so channel c holds bands c*2^J .. c*2^J + 2^J - 1 in the natural (not frequency) order of
 * pywt.WaveletPacket(x_c, 'bior4.4', 'periodization').get_level(J, order='natural'):
 * paths 'a..aa', 'a..ad', ..., 'd..dd', the first letter being the first level.
 *
 * 2-D: x is [C][H][W] -> X is [C*4^J][H>>J][W>>J]. At each level band b splits into
 *   4b   'a'  cA  low along H,  low along W
 *   4b+1 'h'  cH  high along H, low along W
 *   4b+2 'v'  cV  low along H,  high along W
 *   4b+3 'd'  cD  high along H, high along W
 * (pywt.dwt2 returns (cA, (cH, cV, cD))), so channel c holds bands c*4^J .. c*4^J + 4^J - 1
 * in the order of pywt.WaveletPacket2D(x_c, 'bior4.4', 'periodization').get_level(J, 'natural').
 *
 * All eight return 0, WPT_ERR_NOMEM when out of memory, WPT_ERR_ARG on bad arguments (NULL buffer, C, T, H or W
 * not positive or not a multiple of 2^J, J outside 1..10 for 1-D or 1..6 for 2-D, sizes that
 * overflow). Input and output are the same buffer (in place) or do not overlap; either way the
 * transform allocates one scratch buffer of their size (see wl_wpt1_forward_with).
 * Thread-safe; OpenMP-parallel over bands and rows, with results independent of the thread
 * count. The inverse reconstructs to float32
 * rounding (about 1e-6 of max|x|). */

/* 1-D packet: x [C][T] -> X [C*2^J][T>>J]; T must be a multiple of 2^J, J in 1..10. */
int wl_wpt1_forward(const float *x, int C, int T, int J, float *X);
int wl_wpt1_inverse(const float *X, int C, int T, int J, float *x);
/* 2-D packet: x [C][H][W] -> X [C*4^J][H>>J][W>>J]; H, W multiples of 2^J, J in 1..6. */
int wl_wpt2_forward(const float *x, int C, int H, int W, int J, float *X);
/* The forward transform of a x + b, each sample mapped (in float, unfused) as it is first read:
 * bit for bit wl_wpt2_forward of the mapped copy, without making that copy. */
int wl_wpt2_forward_scaled(const float *x, int C, int H, int W, int J, float a, float b, float *X);
int wl_wpt2_inverse(const float *X, int C, int H, int W, int J, float *x);

/* For callers that transform many signals of one shape (the chunks of an audio stream): the
 * floats of scratch a transform of C x H x W (1-D: H = 1) needs with the current OpenMP thread
 * count, and the transforms with the caller's scratch[0..len) instead of their own (they
 * allocate one when len is too small). The 1-D forward transform needs only
 * wl_wpt1_forward_scratch_floats of it (its phases use no work beyond the signal-sized half). */
size_t wl_wpt_scratch_floats(int C, int H, int W);
static inline size_t wl_wpt1_forward_scratch_floats(int C, int T) { return (size_t)C * (size_t)T; }
int wl_wpt1_forward_with(const float *x, int C, int T, int J, float *X, float *scratch, size_t len);
int wl_wpt1_inverse_with(const float *X, int C, int T, int J, float *x, float *scratch, size_t len);
int wl_wpt2_inverse_with(const float *X, int C, int H, int W, int J, float *x, float *scratch, size_t len);
/* The 1-D forward transform in place, with no signal-sized scratch: C rows of T floats, cs >= T
 * apart, each become its 2^J bands of T >> J (band b of row c at x + c cs + b (T >> J)), as
 * wl_wpt1_forward gives them, bit for bit; map = {a, b} (or NULL) scales each sample as it is
 * first read, as wl_wpt2_forward_scaled does. work: len >= the thread count times
 * wl_wpt1_inplace_floats(T) floats (WPT_ERR_ARG otherwise). */
size_t wl_wpt1_inplace_floats(int T);
int wl_wpt1_forward_inplace(float *x, long cs, int C, int T, int J, const float *map, float *work, size_t len);

/* Adjoints, same shapes and rules: with F the forward map x -> X and G = F^-1 its inverse,
 * *_forward_adjoint computes x = F^T X and *_inverse_adjoint X = G^T x. bior4.4 is
 * biorthogonal, so F^T != G; G^T F^T = (F G)^T = I, up to float32 rounding. */
int wl_wpt1_forward_adjoint(const float *X, int C, int T, int J, float *x);
int wl_wpt1_inverse_adjoint(const float *x, int C, int T, int J, float *X);
int wl_wpt2_forward_adjoint(const float *X, int C, int H, int W, int J, float *x);
int wl_wpt2_inverse_adjoint(const float *x, int C, int H, int W, int J, float *X);

#endif
